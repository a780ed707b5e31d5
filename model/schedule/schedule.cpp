// The Schedule IR: names, dependency inference and summaries (see schedule.hpp).
#include "model/schedule/schedule.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace xattn {

std::string Stream::name() const {
  return kind == StreamKind::compute ? std::string("compute") : fmt::format("comm{}", index);
}

std::string OpId::str() const { return fmt::format("{}/{}", rank, index); }

std::string_view to_string(ComputeKind k) {
  switch (k) {
    case ComputeKind::attention_forward: return "attention_forward";
    case ComputeKind::attention_backward: return "attention_backward";
    case ComputeKind::merge: return "merge";
    case ComputeKind::softmax_delta: return "softmax_delta";
    case ComputeKind::lse_combine: return "lse_combine";
    case ComputeKind::rescale: return "rescale";
    case ComputeKind::accumulate: return "accumulate";
    case ComputeKind::copy: return "copy";
    case ComputeKind::fill_empty_output: return "fill_empty_output";
    case ComputeKind::fill_zero: return "fill_zero";
  }
  return "?";
}

std::string_view to_string(CollectiveKind k) {
  switch (k) {
    case CollectiveKind::all_gather: return "all_gather";
    case CollectiveKind::all_to_all: return "all_to_all";
    case CollectiveKind::reduce_scatter: return "reduce_scatter";
    case CollectiveKind::all_reduce: return "all_reduce";
  }
  return "?";
}

std::string_view to_string(OpKind k) {
  switch (k) {
    case OpKind::compute: return "compute";
    case OpKind::send: return "send";
    case OpKind::recv: return "recv";
    case OpKind::collective: return "collective";
  }
  return "?";
}

Bytes TransferOp::size() const {
  Bytes b;
  for (const Part& p : parts) b += p.size;
  return b;
}

Bytes CollectiveOp::bytes_sent() const {
  Bytes b;
  for (Bytes x : bytes_to) b += x;
  return b;
}

const TransferOp* Op::transfer() const {
  if (const auto* s = std::get_if<SendOp>(&body)) return s;
  if (const auto* r = std::get_if<RecvOp>(&body)) return r;
  return nullptr;
}

namespace {
void push(std::vector<std::string>& v, const std::string& s) {
  if (!s.empty() && std::find(v.begin(), v.end(), s) == v.end()) v.push_back(s);
}
}  // namespace

std::vector<std::string> Op::reads() const {
  std::vector<std::string> r;
  if (const auto* c = compute()) {
    switch (c->kind) {
      case ComputeKind::attention_forward: push(r, c->q); push(r, c->k); push(r, c->v); break;
      case ComputeKind::attention_backward:
        for (const auto* s : {&c->q, &c->k, &c->v, &c->o, &c->delta, &c->dout, &c->lse}) push(r, *s);
        if (c->dq_mode == Accumulate::add) push(r, c->dq);
        if (c->dkv_mode == Accumulate::add) { push(r, c->dk); push(r, c->dv); }
        break;
      case ComputeKind::merge:
        push(r, c->o); push(r, c->lse); push(r, c->part_o); push(r, c->part_lse); break;
      case ComputeKind::softmax_delta: push(r, c->dout); push(r, c->o); break;
      case ComputeKind::lse_combine: push(r, c->src); break;
      case ComputeKind::rescale: push(r, c->o); push(r, c->lse); push(r, c->merged_lse); break;
      case ComputeKind::accumulate: push(r, c->src); push(r, c->dst); break;
      case ComputeKind::copy: push(r, c->src); break;
      case ComputeKind::fill_empty_output: push(r, c->q); break;
      case ComputeKind::fill_zero: push(r, c->src); break;
    }
  } else if (const auto* s = std::get_if<SendOp>(&body)) {
    for (const Part& p : s->parts) push(r, p.buffer);
  } else if (const auto* col = collective()) {
    push(r, col->input);
  }
  return r;
}

std::vector<std::string> Op::writes() const {
  std::vector<std::string> w;
  if (const auto* c = compute()) {
    switch (c->kind) {
      case ComputeKind::attention_forward: push(w, c->o); push(w, c->lse); break;
      case ComputeKind::attention_backward: push(w, c->dq); push(w, c->dk); push(w, c->dv); break;
      case ComputeKind::merge: push(w, c->o); push(w, c->lse); break;
      case ComputeKind::softmax_delta: push(w, c->delta); break;
      case ComputeKind::lse_combine: push(w, c->dst); break;
      case ComputeKind::rescale: push(w, c->o); break;
      case ComputeKind::accumulate: push(w, c->dst); break;
      case ComputeKind::copy: push(w, c->dst); break;
      case ComputeKind::fill_empty_output: push(w, c->o); push(w, c->lse); break;
      case ComputeKind::fill_zero: push(w, c->dst); break;
    }
  } else if (const auto* rv = std::get_if<RecvOp>(&body)) {
    for (const Part& p : rv->parts) push(w, p.buffer);
  } else if (const auto* col = collective()) {
    push(w, col->output);
  }
  return w;
}

int Schedule::rounds() const {
  int r = -1;
  for (const Program& p : programs)
    for (const Op& op : p.ops) r = std::max(r, op.round);
  return r + 1;
}

// ---- ProgramBuilder --------------------------------------------------------------------

ProgramBuilder::Access& ProgramBuilder::access(int rank, const std::string& buffer) {
  auto& h = history_[static_cast<std::size_t>(rank)];
  for (auto& [name, a] : h)
    if (name == buffer) return a;
  h.emplace_back(buffer, Access{});
  return h.back().second;
}

int ProgramBuilder::add(int rank, Op op) {
  if (history_.size() < s_.programs.size()) history_.resize(s_.programs.size());
  std::vector<Op>& ops = s_.programs.at(static_cast<std::size_t>(rank)).ops;
  const int index = static_cast<int>(ops.size());
  std::vector<int> deps = op.deps;
  const auto reads = op.reads();
  const auto writes = op.writes();
  for (const std::string& b : reads) {
    Access& a = access(rank, b);
    if (a.last_write >= 0) deps.push_back(a.last_write);
  }
  for (const std::string& b : writes) {
    Access& a = access(rank, b);
    if (a.last_write >= 0) deps.push_back(a.last_write);
    for (int r : a.reads_since) deps.push_back(r);
  }
  // The last op on the same stream already orders everything before it on that stream;
  // but an op of the same transfer group must not be waited for (it runs alongside).
  const TransferOp* t = op.transfer();
  int same_stream_before = -1;
  for (int i = index - 1; i >= 0; --i)
    if (ops[static_cast<std::size_t>(i)].stream == op.stream) { same_stream_before = i; break; }
  std::vector<int> kept;
  for (int d : deps) {
    const Op& dep = ops[static_cast<std::size_t>(d)];
    if (dep.stream == op.stream && d <= same_stream_before) {
      // Implied by stream order unless d sits in the same group as op (then it is a real
      // conflict, which the checks will report as a deadlock).
      const TransferOp* dt = dep.transfer();
      bool same_group = t && dt && t->group >= 0 && dt->group == t->group;
      if (!same_group) continue;
    }
    if (std::find(kept.begin(), kept.end(), d) == kept.end()) kept.push_back(d);
  }
  std::sort(kept.begin(), kept.end());
  op.deps = std::move(kept);
  for (const std::string& b : reads) access(rank, b).reads_since.push_back(index);
  for (const std::string& b : writes) {
    Access& a = access(rank, b);
    a.last_write = index;
    a.reads_since.clear();
  }
  ops.push_back(std::move(op));
  return index;
}

int ProgramBuilder::compute(int rank, ComputeOp c, int round, std::string label) {
  Op op{std::move(c), compute_stream, {}, round, std::move(label)};
  return add(rank, std::move(op));
}

int ProgramBuilder::send(int rank, int peer, std::string tag, std::vector<Part> parts, Stream stream, int group,
                         int round) {
  SendOp s;
  s.peer = peer;
  s.tag = std::move(tag);
  s.parts = std::move(parts);
  s.group = group;
  std::string label = fmt::format("send {} to {}", s.tag, peer);
  return add(rank, Op{std::move(s), stream, {}, round, std::move(label)});
}

int ProgramBuilder::recv(int rank, int peer, std::string tag, std::vector<Part> parts, Stream stream, int group,
                         int round) {
  RecvOp r;
  r.peer = peer;
  r.tag = std::move(tag);
  r.parts = std::move(parts);
  r.group = group;
  std::string label = fmt::format("recv {} from {}", r.tag, peer);
  return add(rank, Op{std::move(r), stream, {}, round, std::move(label)});
}

int ProgramBuilder::collective(int rank, CollectiveOp c, Stream stream, int round, std::string label) {
  return add(rank, Op{std::move(c), stream, {}, round, std::move(label)});
}

int ProgramBuilder::next_group(int rank) {
  if (groups_.size() < s_.programs.size()) groups_.resize(s_.programs.size(), 0);
  return groups_.at(static_cast<std::size_t>(rank))++;
}

// ---- summaries ----------------------------------------------------------------------------

Flops ScheduleSummary::max_flops() const {
  Flops m;
  for (const RankSummary& r : ranks) m = std::max(m, r.flops);
  return m;
}

Bytes ScheduleSummary::max_bytes_sent() const {
  Bytes m;
  for (const RankSummary& r : ranks) m = std::max(m, r.bytes_sent);
  return m;
}

ScheduleSummary summarize(const Schedule& s, const Cluster* cluster) {
  ScheduleSummary out;
  out.round_count = s.rounds();
  out.ranks.resize(static_cast<std::size_t>(s.ranks()));
  // rounds x ranks
  std::vector<std::vector<RoundSummary>> per(static_cast<std::size_t>(out.round_count),
                                             std::vector<RoundSummary>(static_cast<std::size_t>(s.ranks())));
  auto count_bytes = [&](RankSummary& rs, int from, int to, Bytes b) {
    rs.bytes_sent += b;
    if (cluster && cluster->link_class(from, to) == LinkClass::inter_node) rs.bytes_inter += b;
    else rs.bytes_intra += b;
  };
  for (const Program& p : s.programs) {
    RankSummary& rs = out.ranks[static_cast<std::size_t>(p.rank)];
    for (const Op& op : p.ops) {
      RoundSummary* round = op.round >= 0 ? &per[static_cast<std::size_t>(op.round)][static_cast<std::size_t>(p.rank)]
                                          : nullptr;
      if (const auto* c = op.compute()) {
        rs.flops += c->flops;
        if (round) round->flops += c->flops;
      } else if (const auto* snd = std::get_if<SendOp>(&op.body)) {
        count_bytes(rs, p.rank, snd->peer, snd->size());
        rs.messages += 1;
        if (round) { round->bytes += snd->size(); round->messages += 1; }
      } else if (const auto* col = op.collective()) {
        rs.collectives += 1;
        for (std::size_t m = 0; m < col->group.size(); ++m) {
          if (col->group[m] == p.rank) continue;
          count_bytes(rs, p.rank, col->group[m], col->bytes_to[m]);
          if (round) round->bytes += col->bytes_to[m];
        }
      }
    }
  }
  for (const auto& ranks : per) {
    RoundSummary r;
    for (const RoundSummary& x : ranks) {
      r.flops = std::max(r.flops, x.flops);
      r.bytes = std::max(r.bytes, x.bytes);
      r.messages = std::max(r.messages, x.messages);
    }
    out.rounds.push_back(r);
  }
  return out;
}

}  // namespace xattn
