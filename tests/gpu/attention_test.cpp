// Attention block kernels (gpu/attention.hpp). First the CPU references against formulas
// written out independently here (a materialised softmax; finite differences of the loss
// sum(dO o O)); these run everywhere. Then each kernel on the device against the CPU
// references, skipped, saying why, when there is no GPU.
//
// Tolerance on the device: relative Frobenius error ||out - ref|| / ||ref|| <= 1e-2 for bf16
// and <= 2e-3 for fp16. Inputs are rounded to the element type before both sides see them,
// so what is left is the kernels' own rounding: P and dS are rounded to the element type
// before their tensor-core products and the outputs are stored in it, each a relative error
// of one unit in the last place (2^-8 = 3.9e-3 for bf16, 2^-11 = 4.9e-4 for fp16), which a
// few such roundings and fp32 accumulation keep a few times below these bounds. LSE, delta
// (fp32 outputs) are held to an absolute 2e-3 and a relative Frobenius 2e-3.
#include <gtest/gtest.h>

#include <cuda_runtime.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gpu/attention.hpp"
#include "gpu/device.hpp"

namespace xattn::gpu {
namespace {

constexpr float kInf = std::numeric_limits<float>::infinity();

std::size_t q_elems(const AttnDims& d) { return static_cast<std::size_t>(d.batch * d.q_rows * d.heads * d.head_dim); }
std::size_t kv_elems(const AttnDims& d) {
  return static_cast<std::size_t>(d.batch * d.kv_rows * d.kv_heads * d.head_dim);
}
std::size_t row_elems(const AttnDims& d) { return static_cast<std::size_t>(d.batch * d.heads * d.q_rows); }

std::vector<float> random_vector(std::size_t n, std::uint32_t seed, float sigma = 1.f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.f, sigma);
  std::vector<float> x(n);
  for (auto& e : x) e = dist(rng);
  return x;
}

// delta = rowsum(dO o O), rows ordered [b][h][i] like the LSE.
std::vector<float> softmax_delta(const AttnDims& d, const std::vector<float>& o, const std::vector<float>& dout) {
  std::vector<float> delta(row_elems(d));
  for (std::int64_t b = 0; b < d.batch; ++b)
    for (std::int64_t i = 0; i < d.q_rows; ++i)
      for (std::int64_t h = 0; h < d.heads; ++h) {
        double s = 0;
        for (std::int64_t x = 0; x < d.head_dim; ++x) {
          const std::size_t at = static_cast<std::size_t>(((b * d.q_rows + i) * d.heads + h) * d.head_dim + x);
          s += static_cast<double>(o[at]) * dout[at];
        }
        delta[static_cast<std::size_t>((b * d.heads + h) * d.q_rows + i)] = static_cast<float>(s);
      }
  return delta;
}

// ---- the references against formulas written out here --------------------------------

// The textbook formula: the full score matrix of one (batch, head), softmax over each row.
TEST(AttentionReference, ForwardMatchesMaterialisedSoftmax) {
  // Causal with kv_offset 2 > q_offset 0: query rows 0 and 1 see no key (O = 0, LSE = -inf);
  // 4 query heads read 2 key/value heads (group of 2).
  AttnDims d{.batch = 2, .q_rows = 5, .kv_rows = 7, .heads = 4, .kv_heads = 2, .head_dim = 8,
             .causal = true, .q_offset = 0, .kv_offset = 2, .scale = 0.3f};
  auto q = random_vector(q_elems(d), 1), k = random_vector(kv_elems(d), 2), v = random_vector(kv_elems(d), 3);
  std::vector<float> o(q_elems(d)), lse(row_elems(d));
  attention_forward_reference(d, q.data(), k.data(), v.data(), o.data(), lse.data());
  const int D = 8;
  for (int b = 0; b < 2; ++b)
    for (int h = 0; h < 4; ++h) {
      const int kh = h / 2;
      for (int i = 0; i < 5; ++i) {
        std::vector<double> w(7, 0.0);
        double total = 0;
        for (int j = 0; j < 7; ++j) {
          if (i < j + 2) continue;  // q position i, key position j + 2
          double s = 0;
          for (int x = 0; x < D; ++x) s += q[((b * 5 + i) * 4 + h) * D + x] * k[((b * 7 + j) * 2 + kh) * D + x];
          w[j] = std::exp(0.3 * s);
          total += w[j];
        }
        const float l = lse[(b * 4 + h) * 5 + i];
        if (i < 2) {
          EXPECT_EQ(l, -kInf) << "a row with no allowed key has LSE -inf";
        } else {
          EXPECT_NEAR(l, std::log(total), 1e-5);
        }
        for (int x = 0; x < D; ++x) {
          double want = 0;
          for (int j = 0; j < 7; ++j) want += total > 0 ? w[j] / total * v[((b * 7 + j) * 2 + kh) * D + x] : 0.0;
          EXPECT_NEAR(o[((b * 5 + i) * 4 + h) * D + x], want, 1e-5);
        }
      }
    }
}

// The gradients of L = sum(dO o O) by central differences of the forward reference.
TEST(AttentionReference, BackwardMatchesFiniteDifferences) {
  AttnDims d{.batch = 1, .q_rows = 4, .kv_rows = 6, .heads = 2, .kv_heads = 1, .head_dim = 4,
             .causal = true, .q_offset = 1, .kv_offset = 2, .scale = 0.f};  // row 0 sees no key
  auto q = random_vector(q_elems(d), 4), k = random_vector(kv_elems(d), 5), v = random_vector(kv_elems(d), 6);
  auto dout = random_vector(q_elems(d), 7);
  std::vector<float> o(q_elems(d)), lse(row_elems(d));
  attention_forward_reference(d, q.data(), k.data(), v.data(), o.data(), lse.data());
  auto delta = softmax_delta(d, o, dout);
  std::vector<float> dq(q_elems(d)), dk(kv_elems(d)), dv(kv_elems(d));
  attention_backward_reference(d, q.data(), k.data(), v.data(), dout.data(), lse.data(), delta.data(), dq.data(),
                               dk.data(), dv.data());
  auto loss = [&]() {
    std::vector<float> oo(q_elems(d)), ll(row_elems(d));
    attention_forward_reference(d, q.data(), k.data(), v.data(), oo.data(), ll.data());
    double s = 0;
    for (std::size_t x = 0; x < oo.size(); ++x) s += static_cast<double>(oo[x]) * dout[x];
    return s;
  };
  const float h = 1e-2f;
  auto check = [&](std::vector<float>& x, const std::vector<float>& grad, const char* name) {
    for (std::size_t e = 0; e < x.size(); ++e) {
      const float keep = x[e];
      x[e] = keep + h;
      const double up = loss();
      x[e] = keep - h;
      const double down = loss();
      x[e] = keep;
      EXPECT_NEAR(grad[e], (up - down) / (2 * h), 2e-3) << name << "[" << e << "]";
    }
  };
  check(q, dq, "dq");
  check(k, dk, "dk");
  check(v, dv, "dv");
  for (int x = 0; x < 4; ++x) EXPECT_EQ(dq[x], 0.f) << "query row 0 (head 0) sees no key: no gradient";
}

TEST(AttentionSupported, NamesWhatCannotRun) {
  AttnDims d{.batch = 1, .q_rows = 8, .kv_rows = 8, .heads = 4, .kv_heads = 4, .head_dim = 96};
  EXPECT_NE(attention_supported(d).find("head_dim"), std::string::npos);
  d.head_dim = 128;
  d.kv_heads = 3;
  EXPECT_NE(attention_supported(d).find("kv_heads"), std::string::npos);
  d.kv_heads = 1;
  EXPECT_EQ(attention_supported(d), "");
}

// ---- the kernels on the device --------------------------------------------------------

// Host-side element conversions (round to nearest even), so that both sides see the same inputs.
std::uint16_t to_bits(ElemType t, float x) {
  if (t == ElemType::f16) {
    _Float16 h = static_cast<_Float16>(x);
    std::uint16_t u;
    std::memcpy(&u, &h, 2);
    return u;
  }
  std::uint32_t u;
  std::memcpy(&u, &x, 4);
  u += 0x7FFFu + ((u >> 16) & 1u);
  return static_cast<std::uint16_t>(u >> 16);
}
float from_bits(ElemType t, std::uint16_t u) {
  if (t == ElemType::f16) {
    _Float16 h;
    std::memcpy(&h, &u, 2);
    return static_cast<float>(h);
  }
  std::uint32_t w = static_cast<std::uint32_t>(u) << 16;
  float x;
  std::memcpy(&x, &w, 4);
  return x;
}
void round_to(ElemType t, std::vector<float>& x) {
  for (auto& e : x) e = from_bits(t, to_bits(t, e));
}

// A device buffer filled with NaN (all bits set) until something writes it.
struct DeviceBuffer {
  void* ptr = nullptr;
  std::size_t bytes = 0;
  explicit DeviceBuffer(std::size_t n) : bytes(n) {
    EXPECT_EQ(cudaMalloc(&ptr, bytes == 0 ? 16 : bytes), cudaSuccess);
    poison();
  }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(DeviceBuffer&& other) noexcept : ptr(other.ptr), bytes(other.bytes) { other.ptr = nullptr; }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void poison() { EXPECT_EQ(cudaMemset(ptr, 0xFF, bytes), cudaSuccess); }
  template <class U> U* as() const { return static_cast<U*>(ptr); }
};

DeviceBuffer upload(ElemType t, const std::vector<float>& x) {
  std::vector<std::uint16_t> bits(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) bits[e] = to_bits(t, x[e]);
  DeviceBuffer buf(bits.size() * 2);
  EXPECT_EQ(cudaMemcpy(buf.ptr, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
  return buf;
}
void upload_into(ElemType t, const std::vector<float>& x, DeviceBuffer& buf) {
  std::vector<std::uint16_t> bits(x.size());
  for (std::size_t e = 0; e < x.size(); ++e) bits[e] = to_bits(t, x[e]);
  EXPECT_EQ(cudaMemcpy(buf.ptr, bits.data(), bits.size() * 2, cudaMemcpyHostToDevice), cudaSuccess);
}
std::vector<float> download(ElemType t, const DeviceBuffer& buf, std::size_t n) {
  std::vector<std::uint16_t> bits(n);
  EXPECT_EQ(cudaMemcpy(bits.data(), buf.ptr, n * 2, cudaMemcpyDeviceToHost), cudaSuccess);
  std::vector<float> x(n);
  for (std::size_t e = 0; e < n; ++e) x[e] = from_bits(t, bits[e]);
  return x;
}
std::vector<float> download_f32(const DeviceBuffer& buf, std::size_t n) {
  std::vector<float> x(n);
  EXPECT_EQ(cudaMemcpy(x.data(), buf.ptr, n * 4, cudaMemcpyDeviceToHost), cudaSuccess);
  return x;
}
DeviceBuffer upload_f32(const std::vector<float>& x) {
  DeviceBuffer buf(x.size() * 4);
  EXPECT_EQ(cudaMemcpy(buf.ptr, x.data(), x.size() * 4, cudaMemcpyHostToDevice), cudaSuccess);
  return buf;
}

// Every element written (no NaN left from the poison) and ||got - want|| / ||want|| <= tol.
// Infinite entries (an LSE of -inf) must match exactly and stay out of the norms.
void expect_close(const std::vector<float>& got, const std::vector<float>& want, double tol, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double err = 0, ref = 0;
  std::size_t unwritten = 0, inf_mismatch = 0;
  for (std::size_t e = 0; e < got.size(); ++e) {
    if (std::isnan(got[e])) { ++unwritten; continue; }
    if (std::isinf(want[e]) || std::isinf(got[e])) {
      if (got[e] != want[e]) ++inf_mismatch;
      continue;
    }
    err += (static_cast<double>(got[e]) - want[e]) * (static_cast<double>(got[e]) - want[e]);
    ref += static_cast<double>(want[e]) * want[e];
  }
  EXPECT_EQ(unwritten, 0u) << what << ": elements left unwritten (NaN)";
  EXPECT_EQ(inf_mismatch, 0u) << what << ": infinite entries differ";
  const double rel = ref > 0 ? std::sqrt(err / ref) : std::sqrt(err);
  EXPECT_LE(rel, tol) << what << ": relative Frobenius error";
}

struct Case {
  const char* name;
  ElemType t;
  AttnDims d;
  int kv_splits;  // forced split count tried besides the automatic choice (1: none extra)
};

void PrintTo(const Case& c, std::ostream* os) { *os << c.name; }

class AttentionKernel : public ::testing::TestWithParam<Case> {
 protected:
  void SetUp() override {
    DeviceReport dev = query_devices();
    if (dev.devices.empty()) GTEST_SKIP() << "needs a GPU: " << dev.why_none;
  }
};

double tolerance(ElemType t) { return t == ElemType::bf16 ? 1e-2 : 2e-3; }

TEST_P(AttentionKernel, ForwardMatchesReference) {
  const Case& c = GetParam();
  const AttnDims& d = c.d;
  auto q = random_vector(q_elems(d), 11), k = random_vector(kv_elems(d), 12), v = random_vector(kv_elems(d), 13);
  round_to(c.t, q); round_to(c.t, k); round_to(c.t, v);
  std::vector<float> o_ref(q_elems(d)), lse_ref(row_elems(d));
  attention_forward_reference(d, q.data(), k.data(), v.data(), o_ref.data(), lse_ref.data());

  DeviceBuffer dq_ = upload(c.t, q), dk_ = upload(c.t, k), dv_ = upload(c.t, v);
  DeviceBuffer o(q_elems(d) * 2), lse(row_elems(d) * 4);
  ASSERT_EQ(attention_forward(c.t, d, dq_.ptr, dk_.ptr, dv_.ptr, o.ptr, lse.as<float>(), nullptr), "");
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const ForwardPlan plan = attention_forward_plan(d);
  const std::string how = std::string(c.name) + " (automatic: " + std::to_string(plan.kv_splits) + " splits)";
  expect_close(download(c.t, o, q_elems(d)), o_ref, tolerance(c.t), how + " O");
  expect_close(download_f32(lse, row_elems(d)), lse_ref, 2e-3, how + " LSE");

  // Both variants (one pass, split-KV) at both query tiles (64 rows on 4 warps, 128 on 8).
  for (int tile : {64, 128})
    for (int splits : {1, c.kv_splits}) {
      o.poison();
      lse.poison();
      ForwardPlan forced;
      forced.kv_splits = splits;
      forced.q_tile_rows = tile;
      const std::size_t ws_bytes = attention_forward_workspace_bytes(d, splits);
      DeviceBuffer ws(ws_bytes);
      ASSERT_EQ(attention_forward_split(c.t, d, dq_.ptr, dk_.ptr, dv_.ptr, o.ptr, lse.as<float>(), forced, ws.ptr,
                                        ws_bytes, nullptr),
                "");
      ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
      const std::string name =
          std::string(c.name) + " (" + std::to_string(tile) + "-row tile, " + std::to_string(splits) + " splits)";
      expect_close(download(c.t, o, q_elems(d)), o_ref, tolerance(c.t), name + " O");
      expect_close(download_f32(lse, row_elems(d)), lse_ref, 2e-3, name + " LSE");
    }
}

TEST_P(AttentionKernel, SoftmaxDeltaMatchesReference) {
  const Case& c = GetParam();
  const AttnDims& d = c.d;
  auto o = random_vector(q_elems(d), 21), dout = random_vector(q_elems(d), 22);
  round_to(c.t, o); round_to(c.t, dout);
  const auto want = softmax_delta(d, o, dout);
  DeviceBuffer o_d = upload(c.t, o), do_d = upload(c.t, dout), delta(row_elems(d) * 4);
  ASSERT_EQ(attention_softmax_delta(c.t, d, o_d.ptr, do_d.ptr, delta.as<float>(), nullptr), "");
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  expect_close(download_f32(delta, row_elems(d)), want, 2e-3, std::string(c.name) + " delta");
}

TEST_P(AttentionKernel, BackwardMatchesReference) {
  const Case& c = GetParam();
  const AttnDims& d = c.d;
  auto q = random_vector(q_elems(d), 31), k = random_vector(kv_elems(d), 32), v = random_vector(kv_elems(d), 33);
  auto dout = random_vector(q_elems(d), 34);
  round_to(c.t, q); round_to(c.t, k); round_to(c.t, v); round_to(c.t, dout);
  // LSE and delta from the reference forward, as the kernels will be given them.
  std::vector<float> o(q_elems(d)), lse(row_elems(d));
  attention_forward_reference(d, q.data(), k.data(), v.data(), o.data(), lse.data());
  const auto delta = softmax_delta(d, o, dout);
  std::vector<float> dq_ref(q_elems(d)), dk_ref(kv_elems(d)), dv_ref(kv_elems(d));
  attention_backward_reference(d, q.data(), k.data(), v.data(), dout.data(), lse.data(), delta.data(), dq_ref.data(),
                               dk_ref.data(), dv_ref.data());

  DeviceBuffer q_d = upload(c.t, q), k_d = upload(c.t, k), v_d = upload(c.t, v), do_d = upload(c.t, dout);
  DeviceBuffer lse_d = upload_f32(lse), delta_d = upload_f32(delta);
  DeviceBuffer dq(q_elems(d) * 2), dk(kv_elems(d) * 2), dv(kv_elems(d) * 2);
  const std::size_t ws_bytes = attention_backward_workspace_bytes(d);
  DeviceBuffer ws(ws_bytes);
  ASSERT_EQ(attention_backward(c.t, d, q_d.ptr, k_d.ptr, v_d.ptr, do_d.ptr, lse_d.as<float>(), delta_d.as<float>(),
                               dq.ptr, false, dk.ptr, dv.ptr, false, ws.ptr, ws_bytes, nullptr),
            "");
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const double tol = tolerance(c.t);
  expect_close(download(c.t, dq, q_elems(d)), dq_ref, tol, std::string(c.name) + " dQ");
  expect_close(download(c.t, dk, kv_elems(d)), dk_ref, tol, std::string(c.name) + " dK");
  expect_close(download(c.t, dv, kv_elems(d)), dv_ref, tol, std::string(c.name) + " dV");

  // With the add flags the gradients land on top of what the buffers held.
  auto base_q = random_vector(q_elems(d), 35), base_kv = random_vector(kv_elems(d), 36);
  round_to(c.t, base_q); round_to(c.t, base_kv);
  upload_into(c.t, base_q, dq);
  upload_into(c.t, base_kv, dk);
  upload_into(c.t, base_kv, dv);
  ws.poison();  // the kernels must clear their own scratch
  ASSERT_EQ(attention_backward(c.t, d, q_d.ptr, k_d.ptr, v_d.ptr, do_d.ptr, lse_d.as<float>(), delta_d.as<float>(),
                               dq.ptr, true, dk.ptr, dv.ptr, true, ws.ptr, ws_bytes, nullptr),
            "");
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  auto plus = [](std::vector<float> a, const std::vector<float>& b) {
    for (std::size_t e = 0; e < a.size(); ++e) a[e] += b[e];
    return a;
  };
  expect_close(download(c.t, dq, q_elems(d)), plus(dq_ref, base_q), tol, std::string(c.name) + " dQ added");
  expect_close(download(c.t, dk, kv_elems(d)), plus(dk_ref, base_kv), tol, std::string(c.name) + " dK added");
  expect_close(download(c.t, dv, kv_elems(d)), plus(dv_ref, base_kv), tol, std::string(c.name) + " dV added");
}

AttnDims dims(std::int64_t batch, std::int64_t q, std::int64_t kv, std::int64_t heads, std::int64_t kv_heads,
              std::int64_t head_dim, bool causal = false, std::int64_t q_offset = 0, std::int64_t kv_offset = 0) {
  AttnDims d;
  d.batch = batch; d.q_rows = q; d.kv_rows = kv; d.heads = heads; d.kv_heads = kv_heads; d.head_dim = head_dim;
  d.causal = causal; d.q_offset = q_offset; d.kv_offset = kv_offset;
  return d;
}

INSTANTIATE_TEST_SUITE_P(
    Variants, AttentionKernel,
    ::testing::Values(
        // Uneven sizes (not multiples of the 64-row tiles), dense, both types and head dims.
        Case{"bf16_d128_dense_q37_kv301", ElemType::bf16, dims(2, 37, 301, 4, 4, 128), 3},
        Case{"f16_d128_dense_q37_kv301", ElemType::f16, dims(2, 37, 301, 4, 4, 128), 3},
        Case{"bf16_d64_dense_q37_kv301_gqa4", ElemType::bf16, dims(1, 37, 301, 8, 2, 64), 2},
        Case{"f16_d64_dense_q37_kv301_gqa4", ElemType::f16, dims(1, 37, 301, 8, 2, 64), 5},
        // Causal square blocks on the diagonal.
        Case{"bf16_d64_causal_square_q200_gqa4", ElemType::bf16, dims(1, 200, 200, 8, 2, 64, true), 2},
        Case{"f16_d128_causal_square_q130_gqa1", ElemType::f16, dims(2, 130, 130, 2, 2, 128, true), 2},
        // Causal, the query block at the end of the key block (bottom-right aligned).
        Case{"f16_d64_causal_q37_kv301_end", ElemType::f16, dims(1, 37, 301, 4, 1, 64, true, 264, 0), 4},
        Case{"bf16_d128_causal_q37_kv301_end_gqa4", ElemType::bf16, dims(1, 37, 301, 4, 1, 128, true, 264, 0), 4},
        // Short query block against a long key block (the split-KV path is chosen here).
        Case{"bf16_d128_short_q16_kv2000_gqa4", ElemType::bf16, dims(1, 16, 2000, 4, 1, 128), 7},
        Case{"f16_d128_short_q16_kv2000_causal", ElemType::f16, dims(1, 16, 2000, 2, 2, 128, true, 1984, 0), 7},
        Case{"f16_d64_short_q64_kv1500", ElemType::f16, dims(1, 64, 1500, 2, 2, 64), 6},
        // Long query block against a short key block.
        Case{"bf16_d128_long_q700_kv64", ElemType::bf16, dims(1, 700, 64, 2, 1, 128), 1},
        // Key block after the query block's first rows: query rows 0..29 see no key
        // (O = 0, LSE = -inf, no gradient); the all-masked rows check lives in these.
        Case{"f16_d64_causal_masked_rows", ElemType::f16, dims(1, 80, 100, 2, 1, 64, true, 0, 30), 2},
        Case{"bf16_d128_causal_masked_rows", ElemType::bf16, dims(2, 80, 100, 4, 2, 128, true, 0, 30), 2}),
    [](const ::testing::TestParamInfo<Case>& param) { return std::string(param.param.name); });

// The rows with no allowed key come out exactly as specified, not merely close.
TEST(AttentionKernelRows, FullyMaskedRowsAreExactlyEmpty) {
  DeviceReport dev = query_devices();
  if (dev.devices.empty()) GTEST_SKIP() << "needs a GPU: " << dev.why_none;
  const ElemType t = ElemType::bf16;
  const AttnDims d = dims(1, 80, 100, 2, 1, 128, true, 0, 30);  // rows 0..29 see no key
  auto q = random_vector(q_elems(d), 41), k = random_vector(kv_elems(d), 42), v = random_vector(kv_elems(d), 43);
  auto dout = random_vector(q_elems(d), 44);
  DeviceBuffer q_d = upload(t, q), k_d = upload(t, k), v_d = upload(t, v), do_d = upload(t, dout);
  DeviceBuffer o(q_elems(d) * 2), lse(row_elems(d) * 4), delta(row_elems(d) * 4);
  ASSERT_EQ(attention_forward(t, d, q_d.ptr, k_d.ptr, v_d.ptr, o.ptr, lse.as<float>(), nullptr), "");
  ASSERT_EQ(attention_softmax_delta(t, d, o.ptr, do_d.ptr, delta.as<float>(), nullptr), "");
  DeviceBuffer dq(q_elems(d) * 2), dk(kv_elems(d) * 2), dv(kv_elems(d) * 2);
  const std::size_t ws_bytes = attention_backward_workspace_bytes(d);
  DeviceBuffer ws(ws_bytes);
  ASSERT_EQ(attention_backward(t, d, q_d.ptr, k_d.ptr, v_d.ptr, do_d.ptr, lse.as<float>(), delta.as<float>(), dq.ptr,
                               false, dk.ptr, dv.ptr, false, ws.ptr, ws_bytes, nullptr),
            "");
  ASSERT_EQ(cudaDeviceSynchronize(), cudaSuccess);
  const auto o_h = download(t, o, q_elems(d)), dq_h = download(t, dq, q_elems(d));
  const auto lse_h = download_f32(lse, row_elems(d)), delta_h = download_f32(delta, row_elems(d));
  for (int h = 0; h < 2; ++h)
    for (int i = 0; i < 80; ++i) {
      const bool empty = i < 30;
      EXPECT_EQ(lse_h[h * 80 + i] == -kInf, empty) << "head " << h << " row " << i;
      if (!empty) continue;
      EXPECT_EQ(delta_h[h * 80 + i], 0.f);
      for (int x = 0; x < 128; ++x) {
        EXPECT_EQ(o_h[(i * 2 + h) * 128 + x], 0.f) << "O row " << i;
        EXPECT_EQ(dq_h[(i * 2 + h) * 128 + x], 0.f) << "dQ row " << i;
      }
    }
}

}  // namespace
}  // namespace xattn::gpu
