// CPU references for the attention block kernels (gpu/attention.hpp), in double precision
// over the kernels' own layouts: the plain formulas, one query row at a time, that the
// device tests compare the kernels with. No CUDA here, so they also run without a GPU.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "gpu/attention.hpp"

namespace xattn::gpu {
namespace {

struct Index {
  const AttnDims& d;
  std::int64_t q(std::int64_t b, std::int64_t i, std::int64_t h) const {
    return ((b * d.q_rows + i) * d.heads + h) * d.head_dim;
  }
  std::int64_t kv(std::int64_t b, std::int64_t j, std::int64_t kh) const {
    return ((b * d.kv_rows + j) * d.kv_heads + kh) * d.head_dim;
  }
  std::int64_t row(std::int64_t b, std::int64_t h, std::int64_t i) const { return (b * d.heads + h) * d.q_rows + i; }
  bool allowed(std::int64_t i, std::int64_t j) const { return !d.causal || d.q_offset + i >= d.kv_offset + j; }
  double scale() const { return d.scale != 0.f ? d.scale : 1.0 / std::sqrt(static_cast<double>(d.head_dim)); }
};

double dot(const float* a, const float* b, std::int64_t n) {
  double s = 0;
  for (std::int64_t x = 0; x < n; ++x) s += static_cast<double>(a[x]) * b[x];
  return s;
}

}  // namespace

void attention_forward_reference(const AttnDims& d, const float* q, const float* k, const float* v, float* o,
                                 float* lse) {
  const Index ix{d};
  const std::int64_t D = d.head_dim, group = d.heads / d.kv_heads;
  std::vector<double> s(static_cast<std::size_t>(d.kv_rows)), acc(static_cast<std::size_t>(D));
  for (std::int64_t b = 0; b < d.batch; ++b)
    for (std::int64_t h = 0; h < d.heads; ++h)
      for (std::int64_t i = 0; i < d.q_rows; ++i) {
        const std::int64_t kh = h / group;
        double mx = -std::numeric_limits<double>::infinity();
        for (std::int64_t j = 0; j < d.kv_rows; ++j) {
          s[j] = ix.allowed(i, j) ? ix.scale() * dot(q + ix.q(b, i, h), k + ix.kv(b, j, kh), D)
                                  : -std::numeric_limits<double>::infinity();
          mx = std::max(mx, s[j]);
        }
        std::fill(acc.begin(), acc.end(), 0.0);
        double l = 0;
        if (mx > -std::numeric_limits<double>::infinity()) {
          for (std::int64_t j = 0; j < d.kv_rows; ++j) {
            if (!ix.allowed(i, j)) continue;
            const double p = std::exp(s[j] - mx);
            l += p;
            for (std::int64_t x = 0; x < D; ++x) acc[x] += p * v[ix.kv(b, j, kh) + x];
          }
        }
        for (std::int64_t x = 0; x < D; ++x) o[ix.q(b, i, h) + x] = l > 0 ? static_cast<float>(acc[x] / l) : 0.f;
        lse[ix.row(b, h, i)] =
            l > 0 ? static_cast<float>(mx + std::log(l)) : -std::numeric_limits<float>::infinity();
      }
}

void attention_backward_reference(const AttnDims& d, const float* q, const float* k, const float* v,
                                  const float* dout, const float* lse, const float* delta, float* dq, float* dk,
                                  float* dv) {
  const Index ix{d};
  const std::int64_t D = d.head_dim, group = d.heads / d.kv_heads;
  const std::size_t kv_elems = static_cast<std::size_t>(d.batch * d.kv_rows * d.kv_heads * D);
  std::vector<double> dk_acc(kv_elems, 0.0), dv_acc(kv_elems, 0.0), dq_row(static_cast<std::size_t>(D));
  for (std::int64_t b = 0; b < d.batch; ++b)
    for (std::int64_t h = 0; h < d.heads; ++h)
      for (std::int64_t i = 0; i < d.q_rows; ++i) {
        const std::int64_t kh = h / group;
        const double l = lse[ix.row(b, h, i)], dl = delta[ix.row(b, h, i)];
        std::fill(dq_row.begin(), dq_row.end(), 0.0);
        if (l > -std::numeric_limits<double>::infinity()) {  // a row with no key has no gradient
          const float* qi = q + ix.q(b, i, h);
          const float* doi = dout + ix.q(b, i, h);
          for (std::int64_t j = 0; j < d.kv_rows; ++j) {
            if (!ix.allowed(i, j)) continue;
            const float* kj = k + ix.kv(b, j, kh);
            const float* vj = v + ix.kv(b, j, kh);
            const double p = std::exp(ix.scale() * dot(qi, kj, D) - l);
            const double ds = p * (dot(doi, vj, D) - dl);
            for (std::int64_t x = 0; x < D; ++x) {
              dv_acc[ix.kv(b, j, kh) + x] += p * doi[x];
              dk_acc[ix.kv(b, j, kh) + x] += ix.scale() * ds * qi[x];
              dq_row[x] += ix.scale() * ds * kj[x];
            }
          }
        }
        for (std::int64_t x = 0; x < D; ++x) dq[ix.q(b, i, h) + x] = static_cast<float>(dq_row[x]);
      }
  for (std::size_t x = 0; x < kv_elems; ++x) {
    dk[x] = static_cast<float>(dk_acc[x]);
    dv[x] = static_cast<float>(dv_acc[x]);
  }
}

}  // namespace xattn::gpu
