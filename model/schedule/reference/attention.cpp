// Dense attention and the block operations in double precision (see attention.hpp).
#include "model/schedule/reference/attention.hpp"

#include <cmath>
#include <limits>
#include <random>
#include <stdexcept>

#include <fmt/format.h>

namespace xattn::reference {

namespace {
constexpr double kNegInf = -std::numeric_limits<double>::infinity();

std::vector<Eigen::MatrixXd> random_heads(std::mt19937_64& rng, std::int64_t heads, std::int64_t rows, std::int64_t d,
                                          double scale) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<Eigen::MatrixXd> v;
  for (std::int64_t h = 0; h < heads; ++h) {
    Eigen::MatrixXd m(rows, d);
    for (Eigen::Index i = 0; i < m.rows(); ++i)
      for (Eigen::Index j = 0; j < m.cols(); ++j) m(i, j) = scale * u(rng);
    v.push_back(std::move(m));
  }
  return v;
}

void require(bool ok, const char* what) {
  if (!ok) throw std::logic_error(what);
}
}  // namespace

AttentionProblem random_problem(const AttentionShape& shape, const MaskSpec& mask, std::uint64_t seed, double q_scale) {
  if (shape.batch != 1) throw std::invalid_argument("the numerical reference runs batch 1");
  AttentionProblem p;
  p.shape = shape;
  p.mask = mask;
  std::mt19937_64 rng(seed);
  p.q = random_heads(rng, shape.heads, shape.q_tokens, shape.head_dim, q_scale);
  p.k = random_heads(rng, shape.kv_heads, shape.kv_tokens, shape.head_dim, 1.0);
  p.v = random_heads(rng, shape.kv_heads, shape.kv_tokens, shape.head_dim, 1.0);
  p.dout = random_heads(rng, shape.heads, shape.q_tokens, shape.head_dim, 1.0);
  return p;
}

AttentionResult dense_attention(const AttentionProblem& p) {
  const AttentionShape& s = p.shape;
  const std::int64_t g = s.heads / s.kv_heads, Sq = s.q_tokens, Sk = s.kv_tokens, D = s.head_dim;
  const double scale = 1.0 / std::sqrt(static_cast<double>(D));
  AttentionResult r;
  r.lse = Eigen::MatrixXd::Constant(Sq, s.heads, kNegInf);
  for (std::int64_t h = 0; h < s.heads; ++h) {
    r.o.push_back(Eigen::MatrixXd::Zero(Sq, D));
    r.dq.push_back(Eigen::MatrixXd::Zero(Sq, D));
  }
  for (std::int64_t h = 0; h < s.kv_heads; ++h) {
    r.dk.push_back(Eigen::MatrixXd::Zero(Sk, D));
    r.dv.push_back(Eigen::MatrixXd::Zero(Sk, D));
  }
  for (std::int64_t h = 0; h < s.heads; ++h) {
    const Eigen::MatrixXd& Q = p.q[static_cast<std::size_t>(h)];
    const Eigen::MatrixXd& K = p.k[static_cast<std::size_t>(h / g)];
    const Eigen::MatrixXd& V = p.v[static_cast<std::size_t>(h / g)];
    const Eigen::MatrixXd& dO = p.dout[static_cast<std::size_t>(h)];
    for (std::int64_t i = 0; i < Sq; ++i) {
      // Softmax of row i over the allowed keys, max-shifted.
      std::vector<double> logit(static_cast<std::size_t>(Sk), kNegInf);
      double mx = kNegInf;
      for (std::int64_t j = 0; j < Sk; ++j) {
        if (!p.mask.allows(i, j)) continue;
        double x = 0;
        for (std::int64_t c = 0; c < D; ++c) x += Q(i, c) * K(j, c);
        logit[static_cast<std::size_t>(j)] = x * scale;
        mx = std::max(mx, x * scale);
      }
      if (mx == kNegInf) continue;  // no allowed key: O = 0, LSE = -inf, no gradient
      double sum = 0;
      for (double x : logit) sum += x == kNegInf ? 0.0 : std::exp(x - mx);
      const double lse = mx + std::log(sum);
      r.lse(i, h) = lse;
      std::vector<double> prob(static_cast<std::size_t>(Sk), 0.0);
      for (std::int64_t j = 0; j < Sk; ++j) {
        double x = logit[static_cast<std::size_t>(j)];
        prob[static_cast<std::size_t>(j)] = x == kNegInf ? 0.0 : std::exp(x - lse);
        for (std::int64_t c = 0; c < D; ++c) r.o[static_cast<std::size_t>(h)](i, c) += prob[static_cast<std::size_t>(j)] * V(j, c);
      }
      // Backward of row i: dP_j = dO_i·V_j; dS_j = P_j (dP_j - sum_k P_k dP_k).
      std::vector<double> dp(static_cast<std::size_t>(Sk), 0.0);
      double rowdot = 0;
      for (std::int64_t j = 0; j < Sk; ++j) {
        double x = 0;
        for (std::int64_t c = 0; c < D; ++c) x += dO(i, c) * V(j, c);
        dp[static_cast<std::size_t>(j)] = x;
        rowdot += prob[static_cast<std::size_t>(j)] * x;
      }
      for (std::int64_t j = 0; j < Sk; ++j) {
        const double pj = prob[static_cast<std::size_t>(j)];
        if (pj == 0.0) continue;
        const double ds = pj * (dp[static_cast<std::size_t>(j)] - rowdot) * scale;
        for (std::int64_t c = 0; c < D; ++c) {
          r.dq[static_cast<std::size_t>(h)](i, c) += ds * K(j, c);
          r.dk[static_cast<std::size_t>(h / g)](j, c) += ds * Q(i, c);
          r.dv[static_cast<std::size_t>(h / g)](j, c) += pj * dO(i, c);
        }
      }
    }
  }
  return r;
}

double merge_lse(double a, double b) {
  if (a == kNegInf) return b;
  if (b == kNegInf) return a;
  return std::max(a, b) + std::log1p(std::exp(-std::abs(a - b)));
}

namespace {
// Logits of one head with the mask applied (-inf where not allowed).
Eigen::MatrixXd masked_logits(const BlockContext& c, const Tile& q, int hq, const Tile& k, int hk) {
  Eigen::MatrixXd s = q.data[static_cast<std::size_t>(hq)] * k.data[static_cast<std::size_t>(hk)].transpose() * c.scale;
  for (Eigen::Index i = 0; i < s.rows(); ++i)
    for (Eigen::Index j = 0; j < s.cols(); ++j)
      if (!c.mask.allows(q.tokens[static_cast<std::size_t>(i)], k.tokens[static_cast<std::size_t>(j)])) s(i, j) = kNegInf;
  return s;
}

int kv_head(const BlockContext& c, const Tile& k, std::int64_t q_head) {
  int at = k.head_index(q_head / c.group);
  if (at < 0) throw std::logic_error(fmt::format("block: key/value head {} (for query head {}) is not in the K tile",
                                                 q_head / c.group, q_head));
  return at;
}
}  // namespace

void block_forward(const BlockContext& c, const Tile& q, const Tile& k, const Tile& v, Tile& o, Tile& lse) {
  require(k.tokens == v.tokens && k.heads == v.heads, "block forward: K and V tiles differ in layout");
  o = Tile::zeros(q.tokens, q.heads, q.width);
  lse = Tile::zeros(q.tokens, q.heads, 1, kNegInf);
  for (std::size_t h = 0; h < q.heads.size(); ++h) {
    const int hk = kv_head(c, k, q.heads[h]);
    Eigen::MatrixXd s = masked_logits(c, q, static_cast<int>(h), k, hk);
    for (Eigen::Index i = 0; i < s.rows(); ++i) {
      const double mx = s.cols() ? s.row(i).maxCoeff() : kNegInf;
      if (mx == kNegInf) continue;
      Eigen::RowVectorXd p = (s.row(i).array() - mx).exp().matrix();  // exp(-inf) = 0
      const double l = p.sum();
      o.data[h].row(i) = p * v.data[static_cast<std::size_t>(hk)] / l;
      lse.data[h](i, 0) = mx + std::log(l);
    }
  }
}

void block_backward(const BlockContext& c, const Tile& q, const Tile& k, const Tile& v, const Tile& delta,
                    const Tile& dout, const Tile& lse, Tile& dq, bool dq_add, Tile& dk, Tile& dv, bool dkv_add) {
  require(q.tokens == dout.tokens && q.tokens == lse.tokens && q.tokens == delta.tokens,
          "block backward: Q, dO, LSE and delta tiles hold different rows");
  require(k.tokens == v.tokens && k.heads == v.heads, "block backward: K and V tiles differ in layout");
  if (!dq_add) dq = Tile::zeros(q.tokens, q.heads, q.width);
  if (!dkv_add) {
    dk = Tile::zeros(k.tokens, k.heads, k.width);
    dv = Tile::zeros(v.tokens, v.heads, v.width);
  }
  require(dq.tokens == q.tokens && dq.heads == q.heads, "block backward: dQ accumulator does not match Q");
  require(dk.tokens == k.tokens && dk.heads == k.heads && dv.tokens == k.tokens && dv.heads == k.heads,
          "block backward: dK/dV accumulators do not match K");
  for (std::size_t h = 0; h < q.heads.size(); ++h) {
    const int hk = kv_head(c, k, q.heads[h]);
    Eigen::MatrixXd s = masked_logits(c, q, static_cast<int>(h), k, hk);
    Eigen::MatrixXd p(s.rows(), s.cols());
    for (Eigen::Index i = 0; i < s.rows(); ++i) {
      const double L = lse.data[h](i, 0);
      for (Eigen::Index j = 0; j < s.cols(); ++j)
        p(i, j) = (L == kNegInf || s(i, j) == kNegInf) ? 0.0 : std::exp(s(i, j) - L);
    }
    const Eigen::MatrixXd& dO = dout.data[h];
    const Eigen::MatrixXd& V = v.data[static_cast<std::size_t>(hk)];
    dv.data[static_cast<std::size_t>(hk)] += p.transpose() * dO;
    Eigen::MatrixXd dp = dO * V.transpose();
    Eigen::MatrixXd ds = p.array() * (dp.colwise() - delta.data[h].col(0)).array();
    dq.data[h] += ds * k.data[static_cast<std::size_t>(hk)] * c.scale;
    dk.data[static_cast<std::size_t>(hk)] += ds.transpose() * q.data[h] * c.scale;
  }
}

Tile softmax_delta(const Tile& dout, const Tile& o) {
  require(dout.tokens == o.tokens && dout.heads == o.heads, "softmax_delta: dO and O hold different rows");
  Tile d = Tile::zeros(o.tokens, o.heads, 1);
  for (std::size_t h = 0; h < o.heads.size(); ++h) d.data[h].col(0) = dout.data[h].cwiseProduct(o.data[h]).rowwise().sum();
  return d;
}

void merge_into(Tile& o, Tile& lse, const Tile& po, const Tile& plse) {
  require(o.tokens == po.tokens && o.heads == po.heads && lse.tokens == plse.tokens,
          "merge: accumulator and partial hold different rows");
  for (std::size_t h = 0; h < o.heads.size(); ++h) {
    for (Eigen::Index i = 0; i < o.data[h].rows(); ++i) {
      const double a = lse.data[h](i, 0), b = plse.data[h](i, 0);
      const double L = merge_lse(a, b);
      if (L == kNegInf) continue;  // both empty
      const double wa = a == kNegInf ? 0.0 : std::exp(a - L);
      const double wb = b == kNegInf ? 0.0 : std::exp(b - L);
      o.data[h].row(i) = wa * o.data[h].row(i) + wb * po.data[h].row(i);
      lse.data[h](i, 0) = L;
    }
  }
}

}  // namespace xattn::reference
