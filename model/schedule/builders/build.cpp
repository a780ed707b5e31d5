// build_schedule: checks the request, lays out the sequence blocks and calls the
// mechanism's builder for each pass (see builders.hpp).
#include <algorithm>

#include <fmt/format.h>

#include "model/schedule/builders/common.hpp"

namespace xattn {

Layout layout_of(const Mechanism& m, Mask mask) {
  switch (m.kind) {
    case MechanismKind::ring_zigzag: return Layout::zigzag;
    case MechanismKind::ring_stripe: return Layout::striped;
    case MechanismKind::startrail: return mask == Mask::causal ? Layout::zigzag : Layout::contiguous;
    default: return Layout::contiguous;
  }
}

ScheduleSize schedule_size(const Mechanism& m, Pass pass, int ranks) {
  const std::int64_t P = std::max(ranks, 1);
  std::int64_t rounds = P;  // per pass
  std::int64_t flows = 0;
  switch (m.kind) {
    case MechanismKind::ulysses:
      rounds = 0;
      flows = P * (P - 1);
      break;
    case MechanismKind::usp: {
      const std::int64_t u = std::clamp<std::int64_t>(m.param, 1, P);
      rounds = std::max<std::int64_t>(1, P / u);
      flows = P * (u - 1);
      break;
    }
    case MechanismKind::startrail: {
      const std::int64_t c = std::clamp<std::int64_t>(m.param, 1, P);
      rounds = std::max<std::int64_t>(1, P / (c * c));
      break;
    }
    default: break;
  }
  const std::int64_t passes = pass == Pass::fwd_bwd ? 2 : 1;
  ScheduleSize z;
  z.ops_per_rank = passes * (8 * rounds + 16);
  z.ops = z.ops_per_rank * P;
  z.all_to_all_flows = flows;
  return z;
}

namespace {

void validate(const Mechanism& m, const BuildOptions& o) {
  const AttentionShape& s = o.shape;
  if (o.ranks < 1) throw InfeasibleSchedule("a schedule needs at least one rank");
  if (s.heads < 1 || s.kv_heads < 1 || s.heads % s.kv_heads != 0)
    throw InfeasibleSchedule(fmt::format("H = {} must be a positive multiple of H_kv = {}", s.heads, s.kv_heads));
  if (s.head_dim < 1 || s.batch < 1 || s.q_tokens < 0 || s.kv_tokens < 0)
    throw InfeasibleSchedule("batch, head dim and token counts must be positive");
  if (s.mask == Mask::causal && s.q_tokens != s.kv_tokens)
    throw InfeasibleSchedule(fmt::format("a causal mask is for self-attention: S_q = {} but S_kv = {}", s.q_tokens,
                                         s.kv_tokens));
  if (s.mask == Mask::media_local && (o.media_items < 1 || o.media_items > std::min(s.q_tokens, s.kv_tokens)))
    throw InfeasibleSchedule(fmt::format("a media-local mask needs 1 <= media items ({}) <= min(S_q, S_kv)", o.media_items));
  if ((m.kind == MechanismKind::ring_zigzag || m.kind == MechanismKind::ring_stripe) && s.mask != Mask::causal)
    throw InfeasibleSchedule(fmt::format("{} is a layout for causal self-attention; with a {} mask use ring", m.name(),
                                         to_string(s.mask)));
  if (!o.order.empty()) {
    std::vector<int> sorted = o.order;
    std::sort(sorted.begin(), sorted.end());
    bool perm = static_cast<int>(sorted.size()) == o.ranks;
    for (int i = 0; perm && i < o.ranks; ++i) perm = sorted[static_cast<std::size_t>(i)] == i;
    if (!perm) throw InfeasibleSchedule(fmt::format("the ring order must be a permutation of 0..{}", o.ranks - 1));
  }
}

void build_pass(build::Ctx& c, const Mechanism& m, Pass pass) {
  c.pass_tag = std::string(to_string(pass));
  switch (m.kind) {
    case MechanismKind::lv_xattn: build::lv_xattn(c, pass); break;
    case MechanismKind::ring:
    case MechanismKind::ring_zigzag:
    case MechanismKind::ring_stripe: build::ring(c, pass, layout_of(m, c.opt.shape.mask)); break;
    case MechanismKind::no_comm: build::no_comm(c, pass); break;
    case MechanismKind::ulysses: build::usp(c, pass, c.P); break;
    case MechanismKind::usp: build::usp(c, pass, m.param); break;
    case MechanismKind::startrail: build::startrail(c, pass, m.param); break;
  }
}

// What a backward-only schedule finds on each rank, left there by the forward.
std::vector<std::string> saved_by_forward(const Mechanism& m, int P) {
  std::vector<std::string> v{"q", "k", "v", "o", "lse", "do"};
  int u = m.kind == MechanismKind::ulysses ? P : m.kind == MechanismKind::usp ? m.param : 1;
  if (u > 1)
    for (const char* b : {"q.h", "k.h", "v.h", "o.h"}) v.emplace_back(b);
  if (m.kind == MechanismKind::startrail && m.param > 1)
    for (const char* b : {"st.q", "st.k", "st.v"}) v.emplace_back(b);
  return v;
}

}  // namespace

Schedule build_schedule(const Mechanism& m, Pass pass, const BuildOptions& options) {
  validate(m, options);
  Schedule s;
  s.mechanism = m;
  s.pass = pass;
  s.shape = options.shape;
  s.mask = MaskSpec{options.shape.mask, options.shape.q_tokens, options.shape.kv_tokens, options.media_items};
  s.programs.resize(static_cast<std::size_t>(options.ranks));
  s.data.resize(static_cast<std::size_t>(options.ranks));
  build::Ctx c(s, options);
  const Layout layout = layout_of(m, options.shape.mask);
  for (int p = 0; p < c.P; ++p) {
    const int r = c.rank_at(p);
    s.programs[static_cast<std::size_t>(r)].rank = r;
    s.data[static_cast<std::size_t>(r)] = RankData{layout_block(layout, options.shape.q_tokens, c.P, p),
                                                   layout_block(layout, options.shape.kv_tokens, c.P, p)};
  }
  switch (pass) {
    case Pass::fwd:
      build_pass(c, m, Pass::fwd);
      s.inputs = {"q", "k", "v"};
      s.outputs = {"o", "lse"};
      break;
    case Pass::bwd:
      build_pass(c, m, Pass::bwd);
      s.inputs = saved_by_forward(m, c.P);
      s.outputs = {"dq", "dk", "dv"};
      break;
    case Pass::fwd_bwd:
      c.backward_follows = true;
      build_pass(c, m, Pass::fwd);
      c.backward_follows = false;
      c.round_base = s.rounds();
      build_pass(c, m, Pass::bwd);
      s.inputs = {"q", "k", "v", "do"};
      s.outputs = {"o", "lse", "dq", "dk", "dv"};
      break;
  }
  return s;
}

}  // namespace xattn
