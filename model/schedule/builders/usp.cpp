// Ulysses × Ring (USP) and plain all-to-all (Ulysses = USP with Ulysses degree P).
// P = U·R. Ulysses group g holds positions gU .. gU+U-1 (consecutive, so a node when U is
// the node size); an all-to-all inside the group turns sequence blocks into head groups:
// member u then holds the group's S/R tokens for query heads [u·H/U, (u+1)·H/U) and the
// key/value heads those need (replicated when U > H_kv). Ring u links member u of every
// group and runs Ring Attention over R members; an all-to-all brings O (and LSE) back to
// sequence blocks; the LSE stays in head layout, where the backward reads it (as
// DeepSpeed-Ulysses keeps it). The backward all-to-alls dO in, runs the ring backward, and
// all-to-alls dQ, dK, dV back, summing the gradients of replicated K, V heads.
// (MECHANISMS.md, "All-to-all" and "Ulysses × Ring"; docs/schedules.md §5-6.)
#include <fmt/format.h>

#include "model/schedule/builders/common.hpp"

namespace xattn::build {

namespace {

struct UspLayout {
  int U = 1, R = 1;
  std::int64_t H = 0, Hkv = 0;
  std::vector<IndexSet> q_heads, kv_heads;  // per Ulysses member u
  std::vector<IndexSet> q_block, kv_block;  // per position
  std::vector<IndexSet> q_chunk, kv_chunk;  // per Ulysses group g
};

UspLayout make_layout(const Ctx& c, int U) {
  UspLayout L;
  L.U = U;
  L.R = c.P / U;
  L.H = c.opt.shape.heads;
  L.Hkv = c.opt.shape.kv_heads;
  const std::int64_t g = L.H / L.Hkv;  // query heads per key/value head
  for (int u = 0; u < U; ++u) {
    std::int64_t a = u * L.H / U, b = (u + 1) * L.H / U;
    L.q_heads.push_back(IndexSet::range(a, b));
    L.kv_heads.push_back(IndexSet::range(a / g, (b - 1) / g + 1));
  }
  for (int p = 0; p < c.P; ++p) {
    L.q_block.push_back(contiguous_block(c.opt.shape.q_tokens, c.P, p));
    L.kv_block.push_back(contiguous_block(c.opt.shape.kv_tokens, c.P, p));
  }
  for (int grp = 0; grp < L.R; ++grp) {
    IndexSet q, kv;
    for (int u = 0; u < U; ++u) {
      q.add(L.q_block[static_cast<std::size_t>(grp * U + u)]);
      kv.add(L.kv_block[static_cast<std::size_t>(grp * U + u)]);
    }
    L.q_chunk.push_back(q);
    L.kv_chunk.push_back(kv);
  }
  return L;
}

std::vector<int> group_ranks(const Ctx& c, const UspLayout& L, int grp) {
  std::vector<int> g;
  for (int u = 0; u < L.U; ++u) g.push_back(c.rank_at(grp * L.U + u));
  return g;
}

// Sequence block -> head group: split along heads, concatenate along tokens.
void to_heads(Ctx& c, const UspLayout& L, int p, const std::string& in, const std::string& out, bool kv,
              const std::string& what) {
  const int grp = p / L.U, u = p % L.U;
  CollectiveOp col;
  col.kind = CollectiveKind::all_to_all;
  col.group = group_ranks(c, L, grp);
  col.tag = c.tag(fmt::format("usp.g{}.{}", grp, what));
  col.input = in;
  col.output = out;
  col.split = Axis::heads;
  col.concat = Axis::tokens;
  col.parts = kv ? L.kv_heads : L.q_heads;
  const std::int64_t rows = kv ? L.kv_block[static_cast<std::size_t>(p)].size() : L.q_block[static_cast<std::size_t>(p)].size();
  for (int j = 0; j < L.U; ++j)
    col.bytes_to.push_back(j == u ? Bytes(0) : c.act(rows, col.parts[static_cast<std::size_t>(j)].size()));
  c.b.collective(c.rank_at(p), std::move(col), comm_stream(0), -1,
                 fmt::format("all-to-all {} -> {} (sequence block to head group)", in, out));
}

// Head group -> sequence block: split along tokens, concatenate along heads.
enum class Back { output, gradient, kv_gradient };
void to_sequence(Ctx& c, const UspLayout& L, int p, const std::string& in, const std::string& out, Back kind,
                 const std::string& what) {
  const int grp = p / L.U, u = p % L.U;
  CollectiveOp col;
  col.kind = CollectiveKind::all_to_all;
  col.group = group_ranks(c, L, grp);
  col.tag = c.tag(fmt::format("usp.g{}.{}", grp, what));
  col.input = in;
  col.output = out;
  col.split = Axis::tokens;
  col.concat = Axis::heads;
  const bool kv = kind == Back::kv_gradient;
  col.combine = kv ? Combine::sum : Combine::distinct;
  const std::int64_t heads = kv ? L.kv_heads[static_cast<std::size_t>(u)].size() : L.q_heads[static_cast<std::size_t>(u)].size();
  for (int j = 0; j < L.U; ++j) {
    const IndexSet& blk = kv ? L.kv_block[static_cast<std::size_t>(grp * L.U + j)] : L.q_block[static_cast<std::size_t>(grp * L.U + j)];
    col.parts.push_back(blk);
    col.bytes_to.push_back(j == u ? Bytes(0) : c.act(blk.size(), heads));
  }
  c.b.collective(c.rank_at(p), std::move(col), comm_stream(0), -1,
                 fmt::format("all-to-all {} -> {} (head group to sequence block)", in, out));
}

}  // namespace

void usp(Ctx& c, Pass pass, int U) {
  const AttentionShape& sh = c.opt.shape;
  if (U < 1 || c.P % U != 0)
    throw InfeasibleSchedule(fmt::format("usp:u={} needs u to divide P = {}", U, c.P));
  if (sh.heads % U != 0)
    throw InfeasibleSchedule(fmt::format("all-to-all over {} ranks needs the {} query heads divisible by {}", U, sh.heads, U));
  if (sh.kv_heads % U != 0 && U % sh.kv_heads != 0)
    throw InfeasibleSchedule(fmt::format("all-to-all over {} ranks needs H_kv = {} to divide {} or {} to divide it", U,
                                         sh.kv_heads, U, U));
  const UspLayout L = make_layout(c, U);
  const bool a2a = U > 1;
  auto h = [&](const std::string& x) { return a2a ? x + ".h" : x; };
  for (int p = 0; p < c.P && a2a; ++p) {
    if (pass == Pass::fwd) {
      to_heads(c, L, p, "q", "q.h", false, "q");
      to_heads(c, L, p, "k", "k.h", true, "k");
      to_heads(c, L, p, "v", "v.h", true, "v");
    } else {
      to_heads(c, L, p, "do", "do.h", false, "do");
    }
  }
  // With one ring member (plain Ulysses) there is no ring and no round: one local block.
  c.count_rounds = L.R > 1;
  for (int u = 0; u < U; ++u) {
    RingSpec r;
    r.heads = L.q_heads[static_cast<std::size_t>(u)].size();
    r.kv_heads = L.kv_heads[static_cast<std::size_t>(u)].size();
    r.name = fmt::format("usp.r{}", u);
    // LSE stays in head layout ("lse" holds the group's tokens for heads group u): only the
    // backward needs it, there, so it never goes back through an all-to-all.
    r.buf = RingBuffers{h("q"), h("k"), h("v"), h("o"), "lse", "", h("do"), h("dq"), h("dk"), h("dv")};
    for (int grp = 0; grp < L.R; ++grp)
      r.members.push_back(RingMember{c.rank_at(grp * U + u), L.q_chunk[static_cast<std::size_t>(grp)],
                                     L.kv_chunk[static_cast<std::size_t>(grp)]});
    if (pass == Pass::fwd) kv_ring_forward(c, r);
    else kv_ring_backward(c, r);
  }
  c.count_rounds = true;
  for (int p = 0; p < c.P && a2a; ++p) {
    if (pass == Pass::fwd) {
      to_sequence(c, L, p, "o.h", "o", Back::output, "o");
    } else {
      to_sequence(c, L, p, "dq.h", "dq", Back::gradient, "dq");
      to_sequence(c, L, p, "dk.h", "dk", Back::kv_gradient, "dk");
      to_sequence(c, L, p, "dv.h", "dv", Back::kv_gradient, "dv");
    }
  }
}

}  // namespace xattn::build
