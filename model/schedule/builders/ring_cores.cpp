// The build context and the four ring cores (see common.hpp). Round numbering follows the
// closed form (docs/model.md, eq. 8): the block prefetched during round t belongs to round
// t; an accumulator produced in round t travels during round t+1; the last accumulator hop
// (bringing the result home) is the exposed tail, outside the rounds (round -1).
#include "model/schedule/builders/common.hpp"

#include <fmt/format.h>

namespace xattn::build {

Ctx::Ctx(Schedule& sched, const BuildOptions& o) : s(sched), b(sched), opt(o), P(o.ranks) {
  order = o.order;
  if (order.empty())
    for (int r = 0; r < P; ++r) order.push_back(r);
}

Bytes Ctx::act(std::int64_t rows, std::int64_t heads) const {
  return Bytes(static_cast<double>(opt.shape.batch * rows * heads * opt.shape.head_dim * opt.shape.element_bytes()));
}
Bytes Ctx::acc(std::int64_t rows, std::int64_t heads) const {
  int ab = opt.accumulator_bytes > 0 ? opt.accumulator_bytes : opt.shape.element_bytes();
  return Bytes(static_cast<double>(opt.shape.batch * rows * heads * opt.shape.head_dim * ab));
}
Bytes Ctx::stat(std::int64_t rows, std::int64_t heads) const {
  return Bytes(static_cast<double>(opt.shape.batch * rows * heads * 4));
}
Flops Ctx::forward_flops(std::int64_t heads, std::int64_t pairs) const {
  return Flops(4.0 * static_cast<double>(opt.shape.batch) * static_cast<double>(heads) *
               static_cast<double>(opt.shape.head_dim) * static_cast<double>(pairs));
}
Flops Ctx::backward_flops(std::int64_t heads, std::int64_t pairs) const { return forward_flops(heads, pairs) * 2.5; }

BlockShape Ctx::block(const IndexSet& q, const IndexSet& kv, std::int64_t heads, std::int64_t kv_heads,
                      std::int64_t pairs) const {
  return BlockShape{q.size(), kv.size(), heads, kv_heads, opt.shape.head_dim, opt.shape.batch, opt.shape.mask, pairs};
}

void Ctx::attention_forward(int rank, const std::string& q, const std::string& k, const std::string& v,
                            const std::string& o, const std::string& lse, BlockShape blk, std::int64_t heads,
                            int rnd, std::string label) {
  ComputeOp c;
  c.kind = ComputeKind::attention_forward;
  c.q = q; c.k = k; c.v = v; c.o = o; c.lse = lse;
  c.block = blk;
  c.flops = forward_flops(heads, blk.allowed_pairs);
  b.compute(rank, std::move(c), rnd, std::move(label));
}

void Ctx::merge(int rank, const std::string& o, const std::string& lse, const std::string& po,
                const std::string& plse, std::int64_t rows, std::int64_t heads, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::merge;
  c.o = o; c.lse = lse; c.part_o = po; c.part_lse = plse;
  c.touched = (acc(rows, heads) + stat(rows, heads)) * 3.0;
  b.compute(rank, std::move(c), rnd, fmt::format("merge {} into {}", po, o));
}

void Ctx::fill_empty_output(int rank, const std::string& like_q, const std::string& o, const std::string& lse,
                            int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::fill_empty_output;
  c.q = like_q; c.o = o; c.lse = lse;
  b.compute(rank, std::move(c), rnd, fmt::format("no allowed keys: ({}, {}) = (0, -inf)", o, lse));
}

void Ctx::fill_zero(int rank, const std::string& like, const std::string& dst, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::fill_zero;
  c.src = like; c.dst = dst;
  b.compute(rank, std::move(c), rnd, fmt::format("{} = 0", dst));
}

void Ctx::copy(int rank, const std::string& src, const std::string& dst, Bytes size, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::copy;
  c.src = src; c.dst = dst;
  c.touched = size * 2.0;
  b.compute(rank, std::move(c), rnd, fmt::format("{} = {} (local hand-over)", dst, src));
}

void Ctx::accumulate(int rank, const std::string& src, const std::string& dst, Bytes size, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::accumulate;
  c.src = src; c.dst = dst;
  c.touched = size * 3.0;
  b.compute(rank, std::move(c), rnd, fmt::format("{} += {}", dst, src));
}

namespace {

int wrap(int i, int n) { return ((i % n) + n) % n; }

std::string slot(const RingSpec& r, const std::string& what, int t) { return fmt::format("{}.{}{}", r.name, what, t % 2); }

// One grouped exchange with the ring neighbours: send `out` to the next member, receive
// `in` from the previous one, posted together on `stream`.
void exchange(Ctx& c, const RingSpec& r, int i, int t, const std::vector<Part>& out, const std::vector<Part>& in,
              const std::string& what, Stream stream, int rnd) {
  const int n = static_cast<int>(r.members.size());
  const int me = r.members[static_cast<std::size_t>(i)].rank;
  const int to = r.members[static_cast<std::size_t>(wrap(i + 1, n))].rank;
  const int from = r.members[static_cast<std::size_t>(wrap(i - 1, n))].rank;
  int g = c.b.next_group(me);
  std::string tag = c.tag(fmt::format("{}.{}{}", r.name, what, t));
  c.b.send(me, to, tag, out, stream, g, rnd);
  c.b.recv(me, from, tag, in, stream, g, rnd);
}

// The round-t prefetch group: send the block used in round t to the next member, receive
// the one for round t+1 from the previous member.
void prefetch(Ctx& c, const RingSpec& r, int i, int t, const std::vector<Part>& now, const std::vector<Part>& next,
              const std::string& what) {
  exchange(c, r, i, t, now, next, what, comm_stream(0), c.round(t));
}

// The accumulator produced in round t goes to the next member during round t+1; after the
// last round it goes home (the tail).
void pass_on(Ctx& c, const RingSpec& r, int i, int t, const std::vector<Part>& out, const std::vector<Part>& in,
             const std::string& what) {
  const int n = static_cast<int>(r.members.size());
  exchange(c, r, i, t, out, in, what, comm_stream(1), t + 1 < n ? c.round(t + 1) : -1);
}

}  // namespace

void kv_ring_forward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    auto k_at = [&](int t) { return t == 0 ? r.buf.k : slot(r, "k", t); };
    auto v_at = [&](int t) { return t == 0 ? r.buf.v : slot(r, "v", t); };
    auto kv_parts = [&](int t) {
      Bytes half = c.act(r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens.size(), r.kv_heads);
      return std::vector<Part>{{k_at(t), half}, {v_at(t), half}};
    };
    for (int t = 0; t < n; ++t) {
      const IndexSet& kv = r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, kv_parts(t), kv_parts(t + 1), "kv");
      const std::int64_t pairs = mask.allowed_pairs(me.q_tokens, kv);
      const std::string label = fmt::format("round {}: Q{} x KV{}", t, i, wrap(i - t, n));
      if (pairs == 0) {
        if (t == 0) c.fill_empty_output(me.rank, r.buf.q, r.buf.o, r.buf.lse, c.round(t));
        continue;
      }
      BlockShape blk = c.block(me.q_tokens, kv, r.heads, r.kv_heads, pairs);
      if (t == 0) {
        c.attention_forward(me.rank, r.buf.q, k_at(t), v_at(t), r.buf.o, r.buf.lse, blk, r.heads, c.round(t), label);
      } else {
        std::string po = r.name + ".part_o", pl = r.name + ".part_lse";
        c.attention_forward(me.rank, r.buf.q, k_at(t), v_at(t), po, pl, blk, r.heads, c.round(t), label);
        c.merge(me.rank, r.buf.o, r.buf.lse, po, pl, me.q_tokens.size(), r.heads, c.round(t));
      }
    }
  }
}

void kv_ring_backward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    auto k_at = [&](int t) { return t == 0 ? r.buf.k : slot(r, "k", t); };
    auto v_at = [&](int t) { return t == 0 ? r.buf.v : slot(r, "v", t); };
    auto dk_at = [&](int t) { return n == 1 ? r.buf.dk : slot(r, "dk", t); };
    auto dv_at = [&](int t) { return n == 1 ? r.buf.dv : slot(r, "dv", t); };
    auto rows_at = [&](int t) { return r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens.size(); };
    auto kv_parts = [&](int t) {
      Bytes half = c.act(rows_at(t), r.kv_heads);
      return std::vector<Part>{{k_at(t), half}, {v_at(t), half}};
    };
    auto dkv_parts = [&](int t, bool home) {
      Bytes half = c.acc(rows_at(t), r.kv_heads);
      if (home) return std::vector<Part>{{r.buf.dk, half}, {r.buf.dv, half}};
      return std::vector<Part>{{dk_at(t), half}, {dv_at(t), half}};
    };
    c.fill_zero(me.rank, r.buf.q, r.buf.dq, c.round(0));
    for (int t = 0; t < n; ++t) {
      const IndexSet& kv = r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, kv_parts(t), kv_parts(t + 1), "kv");
      const std::int64_t pairs = mask.allowed_pairs(me.q_tokens, kv);
      if (pairs == 0) {
        if (t == 0) {
          c.fill_zero(me.rank, k_at(0), dk_at(0), c.round(0));
          c.fill_zero(me.rank, v_at(0), dv_at(0), c.round(0));
        }
      } else {
        ComputeOp op;
        op.kind = ComputeKind::attention_backward;
        op.q = r.buf.q; op.k = k_at(t); op.v = v_at(t);
        op.o = r.buf.o; op.lse = r.buf.lse; op.dout = r.buf.dout;
        // From round 1 on, the block writes its dK, dV into a local partial and a separate
        // accumulate adds it into the travelling accumulator: the block need not wait for
        // the accumulator's hop, which then hides behind it (docs/model.md, eq. 8d).
        const bool split = t > 0;
        const std::string pdk = r.name + ".part_dk", pdv = r.name + ".part_dv";
        op.dq = r.buf.dq; op.dk = split ? pdk : dk_at(t); op.dv = split ? pdv : dv_at(t);
        op.dq_mode = Accumulate::add;
        op.dkv_mode = Accumulate::overwrite;
        op.block = c.block(me.q_tokens, kv, r.heads, r.kv_heads, pairs);
        op.flops = c.backward_flops(r.heads, pairs);
        c.b.compute(me.rank, std::move(op), c.round(t), fmt::format("round {}: backward Q{} x KV{}", t, i, wrap(i - t, n)));
        if (split) {
          Bytes half = c.acc(rows_at(t), r.kv_heads);
          c.accumulate(me.rank, pdk, dk_at(t), half, c.round(t));
          c.accumulate(me.rank, pdv, dv_at(t), half, c.round(t));
        }
      }
      if (n > 1) pass_on(c, r, i, t, dkv_parts(t, false), dkv_parts(t + 1, t + 1 == n), "dkv");
    }
  }
}

void q_ring_forward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    auto q_at = [&](int t) { return t == 0 ? r.buf.q : slot(r, "q", t); };
    auto o_at = [&](int t) { return n == 1 ? r.buf.o : slot(r, "o", t); };
    auto lse_at = [&](int t) { return n == 1 ? r.buf.lse : slot(r, "lse", t); };
    auto rows_at = [&](int t) { return r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens.size(); };
    auto q_parts = [&](int t) { return std::vector<Part>{{q_at(t), c.act(rows_at(t), r.heads)}}; };
    auto acc_parts = [&](int t, bool home) {
      return std::vector<Part>{{home ? r.buf.o : o_at(t), c.acc(rows_at(t), r.heads)},
                               {home ? r.buf.lse : lse_at(t), c.stat(rows_at(t), r.heads)}};
    };
    for (int t = 0; t < n; ++t) {
      const IndexSet& q = r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, q_parts(t), q_parts(t + 1), "q");
      const std::int64_t pairs = mask.allowed_pairs(q, me.kv_tokens);
      const std::string label = fmt::format("round {}: Q{} x KV{}", t, wrap(i - t, n), i);
      if (pairs == 0) {
        if (t == 0) c.fill_empty_output(me.rank, q_at(0), o_at(0), lse_at(0), c.round(t));
      } else {
        BlockShape blk = c.block(q, me.kv_tokens, r.heads, r.kv_heads, pairs);
        if (t == 0) {
          c.attention_forward(me.rank, q_at(t), r.buf.k, r.buf.v, o_at(t), lse_at(t), blk, r.heads, c.round(t), label);
        } else {
          std::string po = r.name + ".part_o", pl = r.name + ".part_lse";
          c.attention_forward(me.rank, q_at(t), r.buf.k, r.buf.v, po, pl, blk, r.heads, c.round(t), label);
          c.merge(me.rank, o_at(t), lse_at(t), po, pl, q.size(), r.heads, c.round(t));
        }
      }
      if (n > 1) pass_on(c, r, i, t, acc_parts(t, false), acc_parts(t + 1, t + 1 == n), "acc");
    }
  }
}

void q_ring_backward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  const bool use_delta = !r.buf.delta.empty();
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    auto name_at = [&](const std::string& own, const std::string& what, int t) { return t == 0 ? own : slot(r, what, t); };
    auto dq_at = [&](int t) { return n == 1 ? r.buf.dq : slot(r, "dq", t); };
    auto rows_at = [&](int t) { return r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens.size(); };
    auto pack = [&](int t) {
      std::int64_t rows = rows_at(t);
      std::vector<Part> p{{name_at(r.buf.q, "q", t), c.act(rows, r.heads)}};
      if (use_delta) p.push_back({name_at(r.buf.delta, "delta", t), c.stat(rows, r.heads)});
      else p.push_back({name_at(r.buf.o, "o", t), c.act(rows, r.heads)});
      p.push_back({name_at(r.buf.dout, "do", t), c.act(rows, r.heads)});
      p.push_back({name_at(r.buf.lse, "lse", t), c.stat(rows, r.heads)});
      return p;
    };
    auto dq_parts = [&](int t, bool home) {
      return std::vector<Part>{{home ? r.buf.dq : dq_at(t), c.acc(rows_at(t), r.heads)}};
    };
    c.fill_zero(me.rank, r.buf.k, r.buf.dk, c.round(0));
    c.fill_zero(me.rank, r.buf.v, r.buf.dv, c.round(0));
    for (int t = 0; t < n; ++t) {
      const IndexSet& q = r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, pack(t), pack(t + 1), "pack");
      const std::int64_t pairs = mask.allowed_pairs(q, me.kv_tokens);
      if (pairs == 0) {
        if (t == 0) c.fill_zero(me.rank, name_at(r.buf.q, "q", 0), dq_at(0), c.round(0));
      } else {
        ComputeOp op;
        op.kind = ComputeKind::attention_backward;
        op.q = name_at(r.buf.q, "q", t);
        if (use_delta) op.delta = name_at(r.buf.delta, "delta", t);
        else op.o = name_at(r.buf.o, "o", t);
        op.dout = name_at(r.buf.dout, "do", t);
        op.lse = name_at(r.buf.lse, "lse", t);
        op.k = r.buf.k; op.v = r.buf.v;
        // From round 1 on, dQ goes into a local partial and a separate accumulate adds it
        // into the travelling dQ accumulator, so the block does not wait for its hop
        // (docs/model.md, eq. 8b).
        const bool split = t > 0;
        const std::string pdq = r.name + ".part_dq";
        op.dq = split ? pdq : dq_at(t); op.dk = r.buf.dk; op.dv = r.buf.dv;
        op.dq_mode = Accumulate::overwrite;
        op.dkv_mode = Accumulate::add;
        op.block = c.block(q, me.kv_tokens, r.heads, r.kv_heads, pairs);
        op.flops = c.backward_flops(r.heads, pairs);
        c.b.compute(me.rank, std::move(op), c.round(t), fmt::format("round {}: backward Q{} x KV{}", t, wrap(i - t, n), i));
        if (split) c.accumulate(me.rank, pdq, dq_at(t), c.acc(rows_at(t), r.heads), c.round(t));
      }
      if (n > 1) pass_on(c, r, i, t, dq_parts(t, false), dq_parts(t + 1, t + 1 == n), "dq");
    }
  }
}

}  // namespace xattn::build
