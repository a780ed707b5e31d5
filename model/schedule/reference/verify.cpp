// verify(): one mechanism against dense attention (see verify.hpp).
#include "model/schedule/reference/verify.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include "model/schedule/reference/executor.hpp"
#include "model/schedule/builders.hpp"

namespace xattn::reference {

namespace {
double max_abs(const std::vector<Eigen::MatrixXd>& a, const std::vector<Eigen::MatrixXd>& b) {
  double m = 0;
  for (std::size_t h = 0; h < a.size(); ++h)
    if (a[h].size()) m = std::max(m, (a[h] - b[h]).cwiseAbs().maxCoeff());
  return m;
}

double lse_error(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  double m = 0;
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j) {
      const double x = a(i, j), y = b(i, j);
      if (std::isinf(x) || std::isinf(y)) {
        if (x != y) return std::numeric_limits<double>::infinity();
        continue;
      }
      m = std::max(m, std::abs(x - y));
    }
  return m;
}
}  // namespace

double VerifyResult::worst() const {
  double w = std::max({o, lse, dq, dk, dv});
  return std::isnan(w) ? std::numeric_limits<double>::infinity() : w;
}

VerifyResult verify(const VerifyOptions& opt) {
  BuildOptions b;
  b.shape = opt.shape;
  b.ranks = opt.ranks;
  b.media_items = opt.media_items;
  b.order = opt.order;
  Schedule s = build_schedule(opt.mechanism, Pass::fwd_bwd, b);
  AttentionProblem p = random_problem(opt.shape, s.mask, opt.seed, opt.q_scale);
  std::vector<RankState> state = scatter_inputs(s, p);
  execute(s, state);
  AttentionResult got = gather_outputs(s, state, true, true);
  AttentionResult want = dense_attention(p);
  VerifyResult r;
  r.o = max_abs(got.o, want.o);
  r.lse = lse_error(got.lse, want.lse);
  r.dq = max_abs(got.dq, want.dq);
  r.dk = max_abs(got.dk, want.dk);
  r.dv = max_abs(got.dv, want.dv);
  for (Eigen::Index i = 0; i < want.lse.size(); ++i)
    if (std::isfinite(want.lse.data()[i])) r.max_lse = std::max(r.max_lse, want.lse.data()[i]);
  for (const Program& prog : s.programs) r.ops += static_cast<int>(prog.ops.size());
  return r;
}

}  // namespace xattn::reference
