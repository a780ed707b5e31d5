// LV-XAttn, Ring Attention (contiguous, zigzag, striped layouts) and no-comm: one full
// ring of P members over the sequence layout (MECHANISMS.md; docs/schedules.md §2-4).
#include "model/schedule/builders/common.hpp"

namespace xattn::build {

namespace {
RingSpec full_ring(const Ctx& c, Layout layout, const std::string& name) {
  RingSpec r;
  r.heads = c.opt.shape.heads;
  r.kv_heads = c.opt.shape.kv_heads;
  r.name = name;
  r.layout = layout;
  r.buf = RingBuffers{"q", "k", "v", "o", "lse", "", "do", "dq", "dk", "dv"};
  for (int p = 0; p < c.P; ++p)
    r.members.push_back(RingMember{c.rank_at(p), layout_block(layout, c.opt.shape.q_tokens, c.P, p),
                                   layout_block(layout, c.opt.shape.kv_tokens, c.P, p)});
  return r;
}
}  // namespace

void lv_xattn(Ctx& c, Pass pass) {
  RingSpec r = full_ring(c, Layout::contiguous, "lv");
  if (pass == Pass::fwd) q_ring_forward(c, r);
  else q_ring_backward(c, r);
}

void ring(Ctx& c, Pass pass, Layout layout) {
  RingSpec r = full_ring(c, layout, "ring");
  if (pass == Pass::fwd) kv_ring_forward(c, r);
  else kv_ring_backward(c, r);
}

// P rounds of the rank's own block, no transfers: the compute floor of the ring family.
// Not attention (it sees only local keys): the reference does not verify it.
void no_comm(Ctx& c, Pass pass) {
  const std::int64_t H = c.opt.shape.heads, Hkv = c.opt.shape.kv_heads;
  for (int p = 0; p < c.P; ++p) {
    const int rank = c.rank_at(p);
    IndexSet q = contiguous_block(c.opt.shape.q_tokens, c.P, p);
    IndexSet kv = contiguous_block(c.opt.shape.kv_tokens, c.P, p);
    const std::int64_t pairs = c.s.mask.allowed_pairs(q, kv);
    BlockShape blk = c.block(q, kv, H, Hkv, pairs);
    if (pass == Pass::bwd) {
      c.fill_zero(rank, "q", "dq", c.round(0));
      c.fill_zero(rank, "k", "dk", c.round(0));
      c.fill_zero(rank, "v", "dv", c.round(0));
    }
    for (int t = 0; t < c.P; ++t) {
      if (pass == Pass::fwd) {
        if (t == 0) {
          c.attention_forward(rank, "q", "k", "v", "o", "lse", blk, H, c.round(t), "round 0: own block");
        } else {
          c.attention_forward(rank, "q", "k", "v", "nc.part_o", "nc.part_lse", blk, H, c.round(t), "own block again");
          c.merge(rank, "o", "lse", "nc.part_o", "nc.part_lse", q.size(), H, c.round(t));
        }
      } else {
        // Names moved in from std::string temporaries: assigning short literals one by one
        // trips a GCC 12 -Wrestrict false positive.
        using S = std::string;
        ComputeOp op;
        op.kind = ComputeKind::attention_backward;
        op.q = S("q"); op.k = S("k"); op.v = S("v"); op.o = S("o"); op.lse = S("lse"); op.dout = S("do");
        op.dq = S("dq"); op.dk = S("dk"); op.dv = S("dv");
        op.dq_mode = Accumulate::add;
        op.dkv_mode = Accumulate::add;
        op.block = blk;
        op.flops = c.backward_flops(H, pairs);
        c.b.compute(rank, std::move(op), c.round(t), "backward of own block");
      }
    }
  }
}

}  // namespace xattn::build
