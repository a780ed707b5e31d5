// The build context and the four ring cores (see common.hpp). Round numbering follows the
// closed form (docs/model.md, eq. 8): the block prefetched during round t belongs to round
// t; an accumulator produced in round t travels during round t+1; the last accumulator hop
// (bringing the result home) is the exposed tail, outside the rounds (round -1).
#include "model/schedule/builders/common.hpp"

#include <array>

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
  return BlockShape{q.size(),
                    kv.size(),
                    static_cast<std::int32_t>(heads),
                    static_cast<std::int32_t>(kv_heads),
                    static_cast<std::int32_t>(opt.shape.head_dim),
                    static_cast<std::int32_t>(opt.shape.batch),
                    opt.shape.mask,
                    pairs};
}

void Ctx::attention_forward(int rank, Name q, Name k, Name v, Name o, Name lse, BlockShape blk, std::int64_t heads,
                            int rnd, Name label, BlockCall call) {
  ComputeOp c;
  c.kind = ComputeKind::attention_forward;
  c.call = call;
  c.q = q; c.k = k; c.v = v; c.o = o; c.lse = lse;
  c.block = blk;
  c.flops = forward_flops(heads, blk.allowed_pairs);
  b.compute(rank, std::move(c), rnd, label);
}

void Ctx::merge(int rank, Name o, Name lse, Name po, Name plse, std::int64_t rows, std::int64_t heads, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::merge;
  c.o = o; c.lse = lse; c.part_o = po; c.part_lse = plse;
  c.touched = (acc(rows, heads) + stat(rows, heads)) * 3.0;
  b.compute(rank, std::move(c), rnd);
}

void Ctx::fill_empty_output(int rank, Name like_q, Name o, Name lse, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::fill_empty_output;
  c.q = like_q; c.o = o; c.lse = lse;
  b.compute(rank, std::move(c), rnd);
}

void Ctx::fill_zero(int rank, Name like, Name dst, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::fill_zero;
  c.src = like; c.dst = dst;
  b.compute(rank, std::move(c), rnd);
}

void Ctx::copy(int rank, Name src, Name dst, Bytes size, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::copy;
  c.src = src; c.dst = dst;
  c.touched = size * 2.0;
  b.compute(rank, std::move(c), rnd);
}

void Ctx::accumulate(int rank, Name src, Name dst, Bytes size, int rnd) {
  ComputeOp c;
  c.kind = ComputeKind::accumulate;
  c.src = src; c.dst = dst;
  c.touched = size * 3.0;
  b.compute(rank, std::move(c), rnd);
}

namespace {

int wrap(int i, int n) { return ((i % n) + n) % n; }

// The kernel call of member i's queries against member j's keys (docs/model.md eq. 3c): in
// a zigzag ring (member p holds chunks p and 2P-1-p) keys from an earlier member are seen
// by both query chunks in their first chunk only, keys from a later one by the second
// query chunk only: one unmasked call of half the block either way.
BlockCall call_of(const RingSpec& r, int i, int j) {
  if (r.layout != Layout::zigzag || i == j) return BlockCall::whole;
  return j < i ? BlockCall::kv_first_half : BlockCall::q_second_half;
}

// The double-buffer slots "<ring>.<what>0" and "<ring>.<what>1": round t uses slot t % 2.
// Interned once per ring rather than once per op.
class Slots {
 public:
  Slots(const RingSpec& r, std::string_view what)
      : names_{Name(fmt::format("{}.{}0", r.name, what)), Name(fmt::format("{}.{}1", r.name, what))} {}
  [[nodiscard]] Name at(int t) const { return names_[static_cast<std::size_t>(t % 2)]; }

 private:
  std::array<Name, 2> names_;
};

// The tags "<pass>.<ring>.<what><t>" of a ring's exchanges, one per round, shared by
// every member (a tag is unique per sender-receiver pair, so all members may use it).
class Tags {
 public:
  Tags(const Ctx& c, const RingSpec& r, std::string_view what) {
    const int n = static_cast<int>(r.members.size());
    tags_.reserve(static_cast<std::size_t>(n));
    for (int t = 0; t < n; ++t) tags_.emplace_back(c.tag(fmt::format("{}.{}{}", r.name, what, t)));
  }
  [[nodiscard]] Name at(int t) const { return tags_[static_cast<std::size_t>(t)]; }

 private:
  std::vector<Name> tags_;
};

// One grouped exchange with the ring neighbours: send `out` to the next member, receive
// `in` from the previous one, posted together on `stream`.
void exchange(Ctx& c, const RingSpec& r, int i, Parts out, Parts in, Name tag, Stream stream,
              int rnd) {
  const int n = static_cast<int>(r.members.size());
  const int me = r.members[static_cast<std::size_t>(i)].rank;
  const int to = r.members[static_cast<std::size_t>(wrap(i + 1, n))].rank;
  const int from = r.members[static_cast<std::size_t>(wrap(i - 1, n))].rank;
  int g = c.b.next_group(me);
  c.b.send(me, to, tag, std::move(out), stream, g, rnd);
  c.b.recv(me, from, tag, std::move(in), stream, g, rnd);
}

// The round-t prefetch group: send the block used in round t to the next member, receive
// the one for round t+1 from the previous member.
void prefetch(Ctx& c, const RingSpec& r, int i, int t, Parts now, Parts next, const Tags& tags) {
  exchange(c, r, i, std::move(now), std::move(next), tags.at(t), comm_stream(0), c.round(t));
}

// The accumulator produced in round t goes to the next member during round t+1; after the
// last round it goes home (the tail).
void pass_on(Ctx& c, const RingSpec& r, int i, int t, Parts out, Parts in, const Tags& tags) {
  const int n = static_cast<int>(r.members.size());
  exchange(c, r, i, std::move(out), std::move(in), tags.at(t), comm_stream(1), t + 1 < n ? c.round(t + 1) : -1);
}

}  // namespace

void kv_ring_forward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  const Slots ks(r, "k"), vs(r, "v");
  const Tags kv_tags(c, r, "kv");
  const Name po = r.name + ".part_o", pl = r.name + ".part_lse";
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    c.reserve(me.rank, 4 * static_cast<std::size_t>(n) + 2);
    auto k_at = [&](int t) { return t == 0 ? r.buf.k : ks.at(t); };
    auto v_at = [&](int t) { return t == 0 ? r.buf.v : vs.at(t); };
    auto kv_parts = [&](int t) {
      Bytes half = c.act(r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens.size(), r.kv_heads);
      return Parts{{k_at(t), half}, {v_at(t), half}};
    };
    for (int t = 0; t < n; ++t) {
      const IndexSet& kv = r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, kv_parts(t), kv_parts(t + 1), kv_tags);
      const std::int64_t pairs = mask.allowed_pairs(me.q_tokens, kv);
      if (pairs == 0) {
        if (t == 0) c.fill_empty_output(me.rank, r.buf.q, r.buf.o, r.buf.lse, c.round(t));
        continue;
      }
      BlockShape blk = c.block(me.q_tokens, kv, r.heads, r.kv_heads, pairs);
      blk.q_block = i;
      blk.kv_block = wrap(i - t, n);
      if (t == 0) {
        c.attention_forward(me.rank, r.buf.q, k_at(t), v_at(t), r.buf.o, r.buf.lse, blk, r.heads, c.round(t));
      } else {
        c.attention_forward(me.rank, r.buf.q, k_at(t), v_at(t), po, pl, blk, r.heads, c.round(t), {},
                            call_of(r, i, wrap(i - t, n)));
        c.merge(me.rank, r.buf.o, r.buf.lse, po, pl, me.q_tokens.size(), r.heads, c.round(t));
      }
    }
  }
}

void kv_ring_backward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  const Slots ks(r, "k"), vs(r, "v"), dks(r, "dk"), dvs(r, "dv");
  const Tags kv_tags(c, r, "kv"), dkv_tags(c, r, "dkv");
  const Name pdk = r.name + ".part_dk", pdv = r.name + ".part_dv";
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    c.reserve(me.rank, 7 * static_cast<std::size_t>(n) + 2);
    auto k_at = [&](int t) { return t == 0 ? r.buf.k : ks.at(t); };
    auto v_at = [&](int t) { return t == 0 ? r.buf.v : vs.at(t); };
    auto dk_at = [&](int t) { return n == 1 ? r.buf.dk : dks.at(t); };
    auto dv_at = [&](int t) { return n == 1 ? r.buf.dv : dvs.at(t); };
    auto rows_at = [&](int t) { return r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens.size(); };
    auto kv_parts = [&](int t) {
      Bytes half = c.act(rows_at(t), r.kv_heads);
      return Parts{{k_at(t), half}, {v_at(t), half}};
    };
    auto dkv_parts = [&](int t, bool home) {
      Bytes half = c.acc(rows_at(t), r.kv_heads);
      if (home) return Parts{{r.buf.dk, half}, {r.buf.dv, half}};
      return Parts{{dk_at(t), half}, {dv_at(t), half}};
    };
    c.fill_zero(me.rank, r.buf.q, r.buf.dq, c.round(0));
    for (int t = 0; t < n; ++t) {
      const IndexSet& kv = r.members[static_cast<std::size_t>(wrap(i - t, n))].kv_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, kv_parts(t), kv_parts(t + 1), kv_tags);
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
        op.dq = r.buf.dq; op.dk = split ? pdk : dk_at(t); op.dv = split ? pdv : dv_at(t);
        op.dq_mode = Accumulate::add;
        op.dkv_mode = Accumulate::overwrite;
        op.call = call_of(r, i, wrap(i - t, n));
        op.block = c.block(me.q_tokens, kv, r.heads, r.kv_heads, pairs);
        op.block.q_block = i;
        op.block.kv_block = wrap(i - t, n);
        op.flops = c.backward_flops(r.heads, pairs);
        c.b.compute(me.rank, std::move(op), c.round(t));
        if (split) {
          Bytes half = c.acc(rows_at(t), r.kv_heads);
          c.accumulate(me.rank, pdk, dk_at(t), half, c.round(t));
          c.accumulate(me.rank, pdv, dv_at(t), half, c.round(t));
        }
      }
      if (n > 1) pass_on(c, r, i, t, dkv_parts(t, false), dkv_parts(t + 1, t + 1 == n), dkv_tags);
    }
  }
}

void q_ring_forward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  const Slots qs(r, "q"), os(r, "o"), lses(r, "lse");
  const Tags q_tags(c, r, "q"), acc_tags(c, r, "acc");
  const Name po = r.name + ".part_o", pl = r.name + ".part_lse";
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    c.reserve(me.rank, 6 * static_cast<std::size_t>(n) + 2);
    auto q_at = [&](int t) { return t == 0 ? r.buf.q : qs.at(t); };
    auto o_at = [&](int t) { return n == 1 ? r.buf.o : os.at(t); };
    auto lse_at = [&](int t) { return n == 1 ? r.buf.lse : lses.at(t); };
    auto rows_at = [&](int t) { return r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens.size(); };
    auto q_parts = [&](int t) { return Parts{{q_at(t), c.act(rows_at(t), r.heads)}}; };
    auto acc_parts = [&](int t, bool home) {
      return Parts{{home ? r.buf.o : o_at(t), c.acc(rows_at(t), r.heads)},
                               {home ? r.buf.lse : lse_at(t), c.stat(rows_at(t), r.heads)}};
    };
    for (int t = 0; t < n; ++t) {
      const IndexSet& q = r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, q_parts(t), q_parts(t + 1), q_tags);
      const std::int64_t pairs = mask.allowed_pairs(q, me.kv_tokens);
      if (pairs == 0) {
        if (t == 0) c.fill_empty_output(me.rank, q_at(0), o_at(0), lse_at(0), c.round(t));
      } else {
        BlockShape blk = c.block(q, me.kv_tokens, r.heads, r.kv_heads, pairs);
        blk.q_block = wrap(i - t, n);
        blk.kv_block = i;
        if (t == 0) {
          c.attention_forward(me.rank, q_at(t), r.buf.k, r.buf.v, o_at(t), lse_at(t), blk, r.heads, c.round(t));
        } else {
          c.attention_forward(me.rank, q_at(t), r.buf.k, r.buf.v, po, pl, blk, r.heads, c.round(t));
          c.merge(me.rank, o_at(t), lse_at(t), po, pl, q.size(), r.heads, c.round(t));
        }
      }
      if (n > 1) pass_on(c, r, i, t, acc_parts(t, false), acc_parts(t + 1, t + 1 == n), acc_tags);
    }
  }
}

void q_ring_backward(Ctx& c, const RingSpec& r) {
  const int n = static_cast<int>(r.members.size());
  const MaskSpec& mask = c.s.mask;
  const bool use_delta = !r.buf.delta.empty();
  const Slots qs(r, "q"), deltas(r, "delta"), os(r, "o"), dos(r, "do"), lses(r, "lse"), dqs(r, "dq");
  const Tags pack_tags(c, r, "pack"), dq_tags(c, r, "dq");
  const Name pdq = r.name + ".part_dq";
  for (int i = 0; i < n; ++i) {
    const RingMember& me = r.members[static_cast<std::size_t>(i)];
    c.reserve(me.rank, 6 * static_cast<std::size_t>(n) + 2);
    auto name_at = [&](Name own, const Slots& slots, int t) { return t == 0 ? own : slots.at(t); };
    auto dq_at = [&](int t) { return n == 1 ? r.buf.dq : dqs.at(t); };
    auto rows_at = [&](int t) { return r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens.size(); };
    auto pack = [&](int t) {
      std::int64_t rows = rows_at(t);
      Parts p{{name_at(r.buf.q, qs, t), c.act(rows, r.heads)}};
      if (use_delta) p.push_back({name_at(r.buf.delta, deltas, t), c.stat(rows, r.heads)});
      else p.push_back({name_at(r.buf.o, os, t), c.act(rows, r.heads)});
      p.push_back({name_at(r.buf.dout, dos, t), c.act(rows, r.heads)});
      p.push_back({name_at(r.buf.lse, lses, t), c.stat(rows, r.heads)});
      return p;
    };
    auto dq_parts = [&](int t, bool home) {
      return Parts{{home ? r.buf.dq : dq_at(t), c.acc(rows_at(t), r.heads)}};
    };
    c.fill_zero(me.rank, r.buf.k, r.buf.dk, c.round(0));
    c.fill_zero(me.rank, r.buf.v, r.buf.dv, c.round(0));
    for (int t = 0; t < n; ++t) {
      const IndexSet& q = r.members[static_cast<std::size_t>(wrap(i - t, n))].q_tokens;
      if (t + 1 < n) prefetch(c, r, i, t, pack(t), pack(t + 1), pack_tags);
      const std::int64_t pairs = mask.allowed_pairs(q, me.kv_tokens);
      if (pairs == 0) {
        if (t == 0) c.fill_zero(me.rank, name_at(r.buf.q, qs, 0), dq_at(0), c.round(0));
      } else {
        ComputeOp op;
        op.kind = ComputeKind::attention_backward;
        op.q = name_at(r.buf.q, qs, t);
        if (use_delta) op.delta = name_at(r.buf.delta, deltas, t);
        else op.o = name_at(r.buf.o, os, t);
        op.dout = name_at(r.buf.dout, dos, t);
        op.lse = name_at(r.buf.lse, lses, t);
        op.k = r.buf.k; op.v = r.buf.v;
        // From round 1 on, dQ goes into a local partial and a separate accumulate adds it
        // into the travelling dQ accumulator, so the block does not wait for its hop
        // (docs/model.md, eq. 8b).
        const bool split = t > 0;
        op.dq = split ? pdq : dq_at(t); op.dk = r.buf.dk; op.dv = r.buf.dv;
        op.dq_mode = Accumulate::overwrite;
        op.dkv_mode = Accumulate::add;
        op.block = c.block(q, me.kv_tokens, r.heads, r.kv_heads, pairs);
        op.block.q_block = wrap(i - t, n);
        op.block.kv_block = i;
        op.flops = c.backward_flops(r.heads, pairs);
        c.b.compute(me.rank, std::move(op), c.round(t));
        if (split) c.accumulate(me.rank, pdq, dq_at(t), c.acc(rows_at(t), r.heads), c.round(t));
      }
      if (n > 1) pass_on(c, r, i, t, dq_parts(t, false), dq_parts(t + 1, t + 1 == n), dq_tags);
    }
  }
}

}  // namespace xattn::build
