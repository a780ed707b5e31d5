// Kernel timings for `xattn calibrate gpu` (see calibrate.hpp). Every CUDA call is
// checked; a failure says which kernel and shape it was timing.
#include "gpu/calibrate.hpp"

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include <cuda_runtime.h>

#include "gpu/cuda_check.hpp"
#include "gpu/device.hpp"
#include "gpu/elementwise.hpp"
#include "gpu/transport.hpp"

namespace xattn::gpu {
namespace {

// Device memory freed on scope exit.
struct DeviceBuffer {
  void* p = nullptr;
  std::size_t bytes = 0;
  DeviceBuffer(std::size_t n, const std::string& what) : bytes(n) {
    check(cudaMalloc(&p, std::max<std::size_t>(n, 256)), "cudaMalloc " + std::to_string(n) + " B for " + what);
  }
  ~DeviceBuffer() {
    if (p != nullptr) cudaFree(p);
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(p);
  }
};

struct Stream {
  cudaStream_t s = nullptr;
  Stream() { check(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking), "cudaStreamCreate"); }
  ~Stream() {
    if (s != nullptr) cudaStreamDestroy(s);
  }
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
};

struct EventPair {
  cudaEvent_t a = nullptr, b = nullptr;
  EventPair() {
    check(cudaEventCreate(&a), "cudaEventCreate");
    check(cudaEventCreate(&b), "cudaEventCreate");
  }
  ~EventPair() {
    if (a != nullptr) cudaEventDestroy(a);
    if (b != nullptr) cudaEventDestroy(b);
  }
  EventPair(const EventPair&) = delete;
  EventPair& operator=(const EventPair&) = delete;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// Median time of one launch of `launch` (which returns an error string), events around it.
template <class Launch>
double time_launch(const KernelSweep& o, Stream& stream, EventPair& ev, const std::string& what, Launch&& launch) {
  for (int i = 0; i < o.warmup; ++i) check(launch(), what);
  check(cudaStreamSynchronize(stream.s), what + " (warm-up)");
  std::vector<double> times;
  for (int i = 0; i < o.reps; ++i) {
    check(cudaEventRecord(ev.a, stream.s), what + ": cudaEventRecord");
    check(launch(), what);
    check(cudaEventRecord(ev.b, stream.s), what + ": cudaEventRecord");
    check(cudaEventSynchronize(ev.b), what);
    float ms = 0.f;
    check(cudaEventElapsedTime(&ms, ev.a, ev.b), what + ": cudaEventElapsedTime");
    times.push_back(static_cast<double>(ms) * 1e-3);
  }
  return median(times);
}

constexpr int kActivationBytes = 2;  // f16 and bf16
Elem elem_of(ElemType t) { return t == ElemType::f16 ? Elem::f16 : Elem::bf16; }

std::string shape_name(bool bwd, const AttnDims& d) {
  return std::string(bwd ? "bwd" : "fwd") + " block d=" + std::to_string(d.head_dim) + " q_rows=" + std::to_string(d.q_rows) +
         " kv_rows=" + std::to_string(d.kv_rows) + " heads=" + std::to_string(d.heads) + "/" + std::to_string(d.kv_heads) +
         " batch=" + std::to_string(d.batch);
}

}  // namespace

KernelTimes time_kernels(const KernelSweep& o, const std::function<void(const std::string&)>& progress) {
  const DeviceReport rep = query_devices();
  if (rep.devices.empty()) throw GpuUnavailable("this needs a GPU: " + rep.why_none);
  if (o.device < 0 || o.device >= static_cast<int>(rep.devices.size()))
    throw GpuUnavailable("no GPU " + std::to_string(o.device) + " (" + std::to_string(rep.devices.size()) + " visible)");
  if (o.q_rows.empty() || o.kv_rows.empty() || o.head_dims.empty())
    throw std::invalid_argument("the sweep needs q_rows, kv_rows and head dims");
  if (o.reps < 1 || o.warmup < 0) throw std::invalid_argument("needs reps >= 1 and warmup >= 0");
  check(cudaSetDevice(o.device), "cudaSetDevice");
  auto say = [&](const std::string& line) {
    if (progress) progress(line);
  };

  KernelTimes out;
  out.device = rep.devices[static_cast<std::size_t>(o.device)].name;
  const std::int64_t qmax = *std::max_element(o.q_rows.begin(), o.q_rows.end());
  const std::int64_t kmax = *std::max_element(o.kv_rows.begin(), o.kv_rows.end());
  const std::int64_t dmax = *std::max_element(o.head_dims.begin(), o.head_dims.end());
  for (std::int64_t v : o.q_rows)
    if (v < 1) throw std::invalid_argument("q_rows must be positive");
  for (std::int64_t v : o.kv_rows)
    if (v < 1) throw std::invalid_argument("kv_rows must be positive");
  const std::size_t eb = kActivationBytes;
  const std::size_t q_elems = static_cast<std::size_t>(o.batch * std::max<std::int64_t>(qmax, 64) * o.heads * dmax);
  const std::size_t kv_elems = static_cast<std::size_t>(o.batch * std::max<std::int64_t>(kmax, 64) * o.kv_heads * dmax);
  const std::size_t stat_elems = static_cast<std::size_t>(o.batch * o.heads * std::max<std::int64_t>(qmax, 64));

  Stream stream;
  EventPair ev;
  DeviceBuffer q(q_elems * eb, "Q"), k(kv_elems * eb, "K"), v(kv_elems * eb, "V"), o_(q_elems * eb, "O"),
      dout(q_elems * eb, "dO"), dq(q_elems * eb, "dQ"), dk(kv_elems * eb, "dK"), dv(kv_elems * eb, "dV"),
      lse(stat_elems * 4, "LSE"), delta(stat_elems * 4, "delta"), po(q_elems * eb, "partial O"),
      plse(stat_elems * 4, "partial LSE");
  const Elem e = elem_of(o.dtype);
  check(fill_random(e, q.p, static_cast<std::int64_t>(q_elems), 1, -1.f, 1.f, stream.s), "fill Q");
  check(fill_random(e, k.p, static_cast<std::int64_t>(kv_elems), 2, -1.f, 1.f, stream.s), "fill K");
  check(fill_random(e, v.p, static_cast<std::int64_t>(kv_elems), 3, -1.f, 1.f, stream.s), "fill V");
  check(fill_random(e, dout.p, static_cast<std::int64_t>(q_elems), 4, -1.f, 1.f, stream.s), "fill dO");
  check(fill_random(e, po.p, static_cast<std::int64_t>(q_elems), 5, -1.f, 1.f, stream.s), "fill partial O");
  check(fill_random(Elem::f32, plse.p, static_cast<std::int64_t>(stat_elems), 6, 1.f, 2.f, stream.s), "fill partial LSE");
  check(cudaStreamSynchronize(stream.s), "filling the inputs");

  // The launch's fixed cost: a block with almost no work.
  {
    AttnDims d;
    d.batch = 1;
    d.q_rows = 64;
    d.kv_rows = 64;
    d.heads = 1;
    d.kv_heads = 1;
    d.head_dim = o.head_dims.front();
    const std::string what = "launch probe: " + shape_name(false, d);
    if (std::string why = attention_supported(d); !why.empty()) throw std::invalid_argument(what + ": " + why);
    out.probe = BlockTime{false, d.head_dim, 64, 64,
                          time_launch(o, stream, ev, what, [&] {
                            return attention_forward(o.dtype, d, q.p, k.p, v.p, o_.p, lse.as<float>(), stream.s);
                          })};
    say(what + ": " + std::to_string(out.probe.seconds * 1e6) + " us");
  }

  for (std::int64_t hd : o.head_dims)
    for (std::int64_t qr : o.q_rows)
      for (std::int64_t kr : o.kv_rows) {
        AttnDims d;
        d.batch = o.batch;
        d.q_rows = qr;
        d.kv_rows = kr;
        d.heads = o.heads;
        d.kv_heads = o.kv_heads;
        d.head_dim = hd;
        if (std::string why = attention_supported(d); !why.empty())
          throw std::invalid_argument(shape_name(false, d) + ": " + why);
        const std::string fwd_what = shape_name(false, d);
        const double tf = time_launch(o, stream, ev, fwd_what, [&] {
          return attention_forward(o.dtype, d, q.p, k.p, v.p, o_.p, lse.as<float>(), stream.s);
        });
        out.blocks.push_back(BlockTime{false, hd, qr, kr, tf});
        say(fwd_what + ": " + std::to_string(tf * 1e6) + " us");
        if (!o.backward) continue;
        // The backward reads the forward's LSE and delta = rowsum(dO * O).
        check(attention_forward(o.dtype, d, q.p, k.p, v.p, o_.p, lse.as<float>(), stream.s), fwd_what);
        check(attention_softmax_delta(o.dtype, d, o_.p, dout.p, delta.as<float>(), stream.s), "softmax delta " + fwd_what);
        const std::size_t ws_bytes = attention_backward_workspace_bytes(d);
        DeviceBuffer ws(ws_bytes, "backward workspace");
        const std::string bwd_what = shape_name(true, d);
        const double tb = time_launch(o, stream, ev, bwd_what, [&] {
          return attention_backward(o.dtype, d, q.p, k.p, v.p, dout.p, lse.as<float>(), delta.as<float>(), dq.p, false, dk.p,
                                    dv.p, false, ws.p, ws_bytes, stream.s);
        });
        out.blocks.push_back(BlockTime{true, hd, qr, kr, tb});
        say(bwd_what + ": " + std::to_string(tb * 1e6) + " us");
      }

  // Elementwise kernels at the query-block sizes the schedules merge and accumulate.
  for (std::int64_t hd : o.head_dims)
    for (std::int64_t qr : o.q_rows) {
      const RowDims rd{o.batch, qr, o.heads, hd};
      const std::int64_t n = o.batch * qr * o.heads * hd;
      const std::int64_t stats = o.batch * o.heads * qr;
      // merge: reads (o, lse) and (po, plse), writes (o, lse): 3 x (activation + LSE), as
      // the builders count a merge's touched bytes.
      const std::string mw = "merge rows=" + std::to_string(qr) + " d=" + std::to_string(hd);
      check(fill_random(Elem::f32, lse.p, stats, 7, 1.f, 2.f, stream.s), "fill LSE");
      const double tm = time_launch(o, stream, ev, mw, [&] {
        return merge_rows(e, rd, o_.p, lse.as<float>(), po.p, plse.as<float>(), stream.s);
      });
      out.elementwise.push_back(ElementwiseTime{"merge", 3 * (n * static_cast<std::int64_t>(eb) + stats * 4), tm});
      say(mw + ": " + std::to_string(tm * 1e6) + " us");
      const std::string aw = "accumulate elems=" + std::to_string(n);
      const double ta = time_launch(o, stream, ev, aw, [&] { return accumulate_elems(e, dq.p, dout.p, n, stream.s); });
      out.elementwise.push_back(ElementwiseTime{"accumulate", 3 * n * static_cast<std::int64_t>(eb), ta});
      say(aw + ": " + std::to_string(ta * 1e6) + " us");
    }
  check(cudaStreamSynchronize(stream.s), "the sweep");
  return out;
}

}  // namespace xattn::gpu
