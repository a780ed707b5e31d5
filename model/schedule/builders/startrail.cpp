// StarTrail (Liu et al., NeurIPS 2025), concentric sub-rings with team size C
// (MECHANISMS.md, "StarTrail"; docs/schedules.md §7 draws it and derives the volumes).
//
// Positions: team T = pos / C, member a = pos % C; n = P / C² teams form a team group
// (C groups). Forward: (1) all-gather Q, K, V in the team; (2) member a of team t sends
// the team's K, V to team a·n + ⌊t/C⌋, member t mod C, so every group holds every key
// once; (3) n steps of the team's queries against one K, V block rotating around the
// sub-ring (group g, member m); (4) team combine as standard collectives: all-gather LSE,
// merged LSE, rescale O, sum reduce-scatter O.
//
// Backward (our reconstruction; the paper says only that K, V stay and the queries and
// their gradient circulate with one extra hop home): delta = rowsum(dO∘O) on each rank;
// all-gather dO, delta and LSE in the team (Q is kept from the forward); on each sub-ring
// the team's (Q, delta, dO, LSE) rotate with a dQ accumulator one step behind, exactly as
// LV-XAttn's backward, while the redistributed K, V (kept from the forward) stay and
// collect dK, dV over the queries of their group; a sum reduce-scatter of dQ in the team;
// the dK, dV partials go back by the inverse redistribution (to team t, member g) and a sum
// reduce-scatter in the team adds the C groups' partials.
#include <fmt/format.h>

#include "model/schedule/builders/common.hpp"

namespace xattn::build {

namespace {

struct Teams {
  int C = 1, n = 1;
  std::vector<IndexSet> q_block, kv_block;  // per position
  std::vector<IndexSet> q_team, kv_team;    // per team
  [[nodiscard]] int target_of(int pos) const {  // the redistribution's destination
    int T = pos / C, a = pos % C;
    return (a * n + T / C) * C + T % C;
  }
  [[nodiscard]] int source_of(int pos) const {  // whose team's K, V arrive at pos
    int T = pos / C, m = pos % C;
    int j = T % n, g = T / n;
    return (j * C + m) * C + g;
  }
};

std::vector<int> team_ranks(const Ctx& c, const Teams& t, int team) {
  std::vector<int> r;
  for (int m = 0; m < t.C; ++m) r.push_back(c.rank_at(team * t.C + m));
  return r;
}

void all_gather(Ctx& c, const Teams& t, int pos, const std::string& in, const std::string& out, Bytes mine,
                Combine combine, const std::string& what) {
  const int team = pos / t.C;
  CollectiveOp col;
  col.kind = CollectiveKind::all_gather;
  col.group = team_ranks(c, t, team);
  col.tag = c.tag(fmt::format("st.t{}.{}", team, what));
  col.input = in;
  col.output = out;
  col.concat = Axis::tokens;
  col.combine = combine;
  for (int m = 0; m < t.C; ++m) col.bytes_to.push_back(m == pos % t.C ? Bytes(0) : mine);
  c.b.collective(c.rank_at(pos), std::move(col), comm_stream(0), -1, fmt::format("team all-gather {} -> {}", in, out));
}

void reduce_scatter(Ctx& c, const Teams& t, int pos, const std::string& in, const std::string& out,
                    const std::vector<IndexSet>& blocks, std::int64_t heads, bool acc, const std::string& what) {
  const int team = pos / t.C;
  CollectiveOp col;
  col.kind = CollectiveKind::reduce_scatter;
  col.group = team_ranks(c, t, team);
  col.tag = c.tag(fmt::format("st.t{}.{}", team, what));
  col.input = in;
  col.output = out;
  col.split = Axis::tokens;
  col.combine = Combine::sum;
  for (int m = 0; m < t.C; ++m) {
    const IndexSet& blk = blocks[static_cast<std::size_t>(team * t.C + m)];
    col.parts.push_back(blk);
    col.bytes_to.push_back(m == pos % t.C ? Bytes(0) : (acc ? c.acc(blk.size(), heads) : c.act(blk.size(), heads)));
  }
  c.b.collective(c.rank_at(pos), std::move(col), comm_stream(0), -1, fmt::format("team sum reduce-scatter {} -> {}", in, out));
}

// One point-to-point exchange per rank: send `out` to `to_pos`, receive `in` from
// `from_pos`, posted as a group; a local copy where the destination is the rank itself.
void exchange(Ctx& c, int pos, int to_pos, int from_pos, const Parts& out, const Parts& in,
              const std::string& what) {
  const int me = c.rank_at(pos);
  if (to_pos == pos) {
    for (std::size_t i = 0; i < out.size(); ++i) c.copy(me, out[i].buffer, in[i].buffer, out[i].size, -1);
    return;
  }
  int g = c.b.next_group(me);
  c.b.send(me, c.rank_at(to_pos), c.tag(fmt::format("st.{}.from{}", what, pos)), out, comm_stream(0), g, -1);
  c.b.recv(me, c.rank_at(from_pos), c.tag(fmt::format("st.{}.from{}", what, from_pos)), in, comm_stream(0), g, -1);
}

}  // namespace

void startrail(Ctx& c, Pass pass, int C) {
  const AttentionShape& sh = c.opt.shape;
  if (C < 1 || C * C > c.P || c.P % (C * C) != 0)
    throw InfeasibleSchedule(fmt::format("startrail:c={} needs 1 <= c <= sqrt(P) and c² dividing P = {}", C, c.P));
  Teams t;
  t.C = C;
  t.n = c.P / (C * C);
  const Layout layout = layout_of(c.s.mechanism, sh.mask);
  t.q_block = layout_blocks(layout, sh.q_tokens, c.P);
  t.kv_block = layout_blocks(layout, sh.kv_tokens, c.P);
  for (int T = 0; T < c.P / C; ++T) {
    IndexSet q, kv;
    for (int m = 0; m < C; ++m) {
      q.add(t.q_block[static_cast<std::size_t>(T * C + m)]);
      kv.add(t.kv_block[static_cast<std::size_t>(T * C + m)]);
    }
    t.q_team.push_back(q);
    t.kv_team.push_back(kv);
  }
  const std::int64_t H = sh.heads, Hkv = sh.kv_heads;
  const bool teams = C > 1;
  // Buffer names; with C = 1 a team is one rank and nothing is gathered or redistributed.
  const std::string tq = teams ? "st.q" : "q", tk = teams ? "st.kt" : "k", tv = teams ? "st.vt" : "v";
  const std::string rk = teams ? "st.k" : "k", rv = teams ? "st.v" : "v";
  auto size_q = [&](int pos) { return t.q_block[static_cast<std::size_t>(pos)].size(); };
  auto size_kv = [&](int pos) { return t.kv_block[static_cast<std::size_t>(pos)].size(); };
  auto team_kv_rows = [&](int pos) { return t.kv_team[static_cast<std::size_t>(pos / C)].size(); };

  auto rings = [&](const RingBuffers& buf, bool forward) {
    for (int g = 0; g < C; ++g) {
      for (int m = 0; m < C; ++m) {
        RingSpec r;
        r.heads = H;
        r.kv_heads = Hkv;
        r.name = fmt::format("st.g{}m{}", g, m);
        r.buf = buf;
        for (int j = 0; j < t.n; ++j) {
          const int team = g * t.n + j;
          r.members.push_back(RingMember{c.rank_at(team * C + m), t.q_team[static_cast<std::size_t>(team)],
                                         t.kv_team[static_cast<std::size_t>(j * C + m)]});
        }
        if (forward) kv_ring_forward(c, r);
        else q_ring_backward(c, r);
      }
    }
  };

  if (pass == Pass::fwd) {
    for (int pos = 0; pos < c.P && teams; ++pos) {
      all_gather(c, t, pos, "q", tq, c.act(size_q(pos), H), Combine::distinct, "q");
      all_gather(c, t, pos, "k", tk, c.act(size_kv(pos), Hkv), Combine::distinct, "k");
      all_gather(c, t, pos, "v", tv, c.act(size_kv(pos), Hkv), Combine::distinct, "v");
    }
    for (int pos = 0; pos < c.P && teams; ++pos) {
      Bytes out = c.act(team_kv_rows(pos), Hkv), in = c.act(team_kv_rows(t.source_of(pos)), Hkv);
      exchange(c, pos, t.target_of(pos), t.source_of(pos), {{tk, out}, {tv, out}}, {{rk, in}, {rv, in}}, "kv");
    }
    rings(RingBuffers{tq, rk, rv, teams ? "st.o" : "o", teams ? "st.lse" : "lse", "", "", "", "", ""}, true);
    for (int pos = 0; pos < c.P && teams; ++pos) {
      const int me = c.rank_at(pos);
      const std::int64_t rows = t.q_team[static_cast<std::size_t>(pos / C)].size();
      all_gather(c, t, pos, "st.lse", "st.lse.all", c.stat(rows, H), Combine::stack, "lse");
      ComputeOp comb;
      comb.kind = ComputeKind::lse_combine;
      comb.src = "st.lse.all";
      comb.dst = "st.lse.m";
      comb.touched = c.stat(rows, H) * static_cast<double>(C + 1);
      c.b.compute(me, std::move(comb), -1, "merged LSE of the team's rows");
      ComputeOp res;
      res.kind = ComputeKind::rescale;
      res.o = "st.o";
      res.lse = "st.lse";
      res.merged_lse = "st.lse.m";
      res.touched = c.acc(rows, H) * 2.0 + c.stat(rows, H) * 2.0;
      c.b.compute(me, std::move(res), -1, "O *= exp(LSE_local - LSE_merged)");
      reduce_scatter(c, t, pos, "st.o", "o", t.q_block, H, true, "o");  // partial O: accumulator dtype
      ComputeOp pick;
      pick.kind = ComputeKind::copy;
      pick.src = "st.lse.m";
      pick.dst = "lse";
      pick.rows = t.q_block[static_cast<std::size_t>(pos)];
      pick.touched = c.stat(size_q(pos), H) * 2.0;
      c.b.compute(me, std::move(pick), -1, "own rows of the merged LSE");
    }
    return;
  }

  // Backward.
  const std::string tdo = teams ? "st.do" : "do", tdl = teams ? "st.dlt" : "st.dl", tlse = teams ? "st.lsef" : "lse";
  for (int pos = 0; pos < c.P; ++pos) {
    ComputeOp dl;
    dl.kind = ComputeKind::softmax_delta;
    dl.dout = "do";
    dl.o = "o";
    dl.delta = "st.dl";
    dl.touched = c.act(size_q(pos), H) * 2.0 + c.stat(size_q(pos), H);
    c.b.compute(c.rank_at(pos), std::move(dl), -1, "delta = rowsum(dO * O)");
  }
  for (int pos = 0; pos < c.P && teams; ++pos) {
    all_gather(c, t, pos, "do", tdo, c.act(size_q(pos), H), Combine::distinct, "do");
    all_gather(c, t, pos, "st.dl", tdl, c.stat(size_q(pos), H), Combine::distinct, "delta");
    all_gather(c, t, pos, "lse", tlse, c.stat(size_q(pos), H), Combine::distinct, "lsef");
  }
  RingBuffers buf{tq, rk, rv, "", tlse, tdl, tdo, teams ? "st.dq" : "dq", teams ? "st.dk" : "dk", teams ? "st.dv" : "dv"};
  rings(buf, false);
  for (int pos = 0; pos < c.P && teams; ++pos) {
    reduce_scatter(c, t, pos, "st.dq", "dq", t.q_block, H, true, "dq");
    // Inverse redistribution: the dK, dV partials of the block this rank received go back to
    // the member that sent it.
    Bytes out = c.acc(team_kv_rows(t.source_of(pos)), Hkv), in = c.acc(team_kv_rows(pos), Hkv);
    exchange(c, pos, t.source_of(pos), t.target_of(pos), {{"st.dk", out}, {"st.dv", out}},
             {{"st.dkt", in}, {"st.dvt", in}}, "dkv");
    reduce_scatter(c, t, pos, "st.dkt", "dk", t.kv_block, Hkv, true, "dk");
    reduce_scatter(c, t, pos, "st.dvt", "dv", t.kv_block, Hkv, true, "dv");
  }
}

}  // namespace xattn::build
