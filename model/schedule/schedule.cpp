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
    case ComputeKind::gemm: return "gemm";
    case ComputeKind::encoder: return "encoder";
    case ComputeKind::elementwise: return "elementwise";
    case ComputeKind::host_sync: return "host_sync";
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

TransferKey transfer_key(int rank, const Op& op) {
  const TransferOp* t = op.transfer();
  const bool send = op.kind() == OpKind::send;
  return TransferKey{send ? rank : t->peer, send ? t->peer : rank, t->tag};
}

const TransferOp* Op::transfer() const {
  if (const auto* s = std::get_if<SendOp>(&body)) return s;
  if (const auto* r = std::get_if<RecvOp>(&body)) return r;
  return nullptr;
}

NameList Op::reads() const {
  NameList r;
  if (const auto* c = compute()) {
    switch (c->kind) {
      case ComputeKind::attention_forward: r.push(c->q); r.push(c->k); r.push(c->v); break;
      case ComputeKind::attention_backward:
        for (Name n : {c->q, c->k, c->v, c->o, c->delta, c->dout, c->lse}) r.push(n);
        if (c->dq_mode == Accumulate::add) r.push(c->dq);
        if (c->dkv_mode == Accumulate::add) { r.push(c->dk); r.push(c->dv); }
        break;
      case ComputeKind::merge:
        r.push(c->o); r.push(c->lse); r.push(c->part_o); r.push(c->part_lse); break;
      case ComputeKind::softmax_delta: r.push(c->dout); r.push(c->o); break;
      case ComputeKind::lse_combine: r.push(c->src); break;
      case ComputeKind::rescale: r.push(c->o); r.push(c->lse); r.push(c->merged_lse); break;
      case ComputeKind::accumulate: r.push(c->src); r.push(c->dst); break;
      case ComputeKind::copy: r.push(c->src); break;
      case ComputeKind::fill_empty_output: r.push(c->q); break;
      case ComputeKind::fill_zero: r.push(c->src); break;
      case ComputeKind::gemm:
      case ComputeKind::encoder:
      case ComputeKind::elementwise: r.push(c->src); break;
      case ComputeKind::host_sync: break;
    }
  } else if (const auto* s = std::get_if<SendOp>(&body)) {
    for (const Part& p : s->parts) r.push(p.buffer);
  } else if (const auto* col = collective()) {
    r.push(col->input);
  }
  return r;
}

NameList Op::writes() const {
  NameList w;
  if (const auto* c = compute()) {
    switch (c->kind) {
      case ComputeKind::attention_forward: w.push(c->o); w.push(c->lse); break;
      case ComputeKind::attention_backward: w.push(c->dq); w.push(c->dk); w.push(c->dv); break;
      case ComputeKind::merge: w.push(c->o); w.push(c->lse); break;
      case ComputeKind::softmax_delta: w.push(c->delta); break;
      case ComputeKind::lse_combine: w.push(c->dst); break;
      case ComputeKind::rescale: w.push(c->o); break;
      case ComputeKind::accumulate: w.push(c->dst); break;
      case ComputeKind::copy: w.push(c->dst); break;
      case ComputeKind::fill_empty_output: w.push(c->o); w.push(c->lse); break;
      case ComputeKind::fill_zero: w.push(c->dst); break;
      case ComputeKind::gemm:
      case ComputeKind::encoder:
      case ComputeKind::elementwise: w.push(c->dst); break;
      case ComputeKind::host_sync: break;
    }
  } else if (const auto* rv = std::get_if<RecvOp>(&body)) {
    for (const Part& p : rv->parts) w.push(p.buffer);
  } else if (const auto* col = collective()) {
    w.push(col->output);
  }
  return w;
}

std::string Op::describe() const {
  if (!label.empty()) return label;
  if (const auto* c = compute()) {
    switch (c->kind) {
      case ComputeKind::attention_forward:
      case ComputeKind::attention_backward: {
        const bool fwd = c->kind == ComputeKind::attention_forward;
        if (c->block.q_block < 0) return fwd ? fmt::format("attention {} x {} -> {}", c->q, c->k, c->o)
                                             : fmt::format("backward {} x {}", c->q, c->k);
        std::string text = round >= 0 ? fmt::format("round {}: ", round) : std::string();
        return text + fmt::format("{}Q{} x KV{}", fwd ? "" : "backward ", c->block.q_block, c->block.kv_block);
      }
      case ComputeKind::merge: return fmt::format("merge {} into {}", c->part_o, c->o);
      case ComputeKind::softmax_delta: return fmt::format("{} = rowsum({} * {})", c->delta, c->dout, c->o);
      case ComputeKind::lse_combine: return fmt::format("{} = lse-combine({})", c->dst, c->src);
      case ComputeKind::rescale: return fmt::format("rescale {} to {}", c->o, c->merged_lse);
      case ComputeKind::accumulate: return fmt::format("{} += {}", c->dst, c->src);
      case ComputeKind::copy: return fmt::format("{} = {} (local hand-over)", c->dst, c->src);
      case ComputeKind::fill_empty_output: return fmt::format("no allowed keys: ({}, {}) = (0, -inf)", c->o, c->lse);
      case ComputeKind::fill_zero: return fmt::format("{} = 0", c->dst);
      case ComputeKind::gemm: return fmt::format("gemm {:.3g} GFLOP", c->flops.value() * 1e-9);
      case ComputeKind::encoder: return fmt::format("encoder {:.3g} TFLOP", c->flops.value() * 1e-12);
      case ComputeKind::elementwise: return fmt::format("elementwise pass over {:.3g} MB", c->touched.value() * 1e-6);
      case ComputeKind::host_sync: return "host sync";
    }
  } else if (const auto* s = std::get_if<SendOp>(&body)) {
    return fmt::format("send {} to {}", s->tag, s->peer);
  } else if (const auto* r = std::get_if<RecvOp>(&body)) {
    return fmt::format("recv {} from {}", r->tag, r->peer);
  } else if (const auto* col = collective()) {
    return fmt::format("{} {}", to_string(col->kind), col->tag);
  }
  return "?";
}

std::string Op::phase() const {
  if (part == StepPart::none) return {};
  std::string text;
  if (layer >= 0) text = fmt::format("{}layer {} ", part == StepPart::vision ? "vision " : "", layer);
  const CollectiveOp* col = collective();
  if (part == StepPart::sharding && col != nullptr) {
    switch (col->kind) {
      case CollectiveKind::all_gather: text += "all-gather"; break;
      case CollectiveKind::reduce_scatter: text += "reduce-scatter"; break;
      case CollectiveKind::all_reduce: text += "all-reduce"; break;
      case CollectiveKind::all_to_all: text += "all-to-all"; break;
    }
  } else {
    text += to_string(part);
    if (direction != StepDirection::none) text += fmt::format(" {}", to_string(direction));
  }
  if (round >= 0 && (part == StepPart::self_attention || part == StepPart::cross_attention))
    text += fmt::format(" round {}", round);
  return text;
}

int Schedule::rounds() const {
  int r = -1;
  for (const Program& p : programs)
    for (const Op& op : p.ops) r = std::max(r, op.round);
  return r + 1;
}

// ---- ProgramBuilder --------------------------------------------------------------------

ProgramBuilder::Access& ProgramBuilder::access(int rank, Name buffer) {
  return history_[static_cast<std::size_t>(rank)][buffer];
}

int ProgramBuilder::add(int rank, Op op) {
  if (history_.size() < s_.programs.size()) history_.resize(s_.programs.size());
  std::vector<Op>& ops = s_.programs.at(static_cast<std::size_t>(rank)).ops;
  const int index = static_cast<int>(ops.size());
  std::vector<int>& deps = scratch_;
  deps.assign(op.deps.begin(), op.deps.end());
  const NameList reads = op.reads();
  const NameList writes = op.writes();
  // One lookup per buffer, reads first, then writes (the map's nodes do not move while
  // this op is added).
  SmallVec<Access*, 24> found;
  for (Name b : reads) {
    Access* a = &access(rank, b);
    found.push_back(a);
    if (a->last_write >= 0) deps.push_back(a->last_write);
  }
  for (Name b : writes) {
    Access* a = &access(rank, b);
    found.push_back(a);
    if (a->last_write >= 0) deps.push_back(a->last_write);
    deps.insert(deps.end(), a->reads_since.begin(), a->reads_since.end());
  }
  // The last op on the same stream already orders everything before it on that stream;
  // but an op of the same transfer group must not be waited for (it runs alongside).
  const TransferOp* t = op.transfer();
  int same_stream_before = -1;
  for (int i = index - 1; i >= 0; --i)
    if (ops[static_cast<std::size_t>(i)].stream == op.stream) { same_stream_before = i; break; }
  std::erase_if(deps, [&](int d) {
    const Op& dep = ops[static_cast<std::size_t>(d)];
    if (dep.stream != op.stream || d > same_stream_before) return false;
    // Implied by stream order unless d sits in the same group as op (then it is a real
    // conflict, which the checks will report as a deadlock).
    const TransferOp* dt = dep.transfer();
    return !(t && dt && t->group >= 0 && dt->group == t->group);
  });
  std::sort(deps.begin(), deps.end());
  deps.erase(std::unique(deps.begin(), deps.end()), deps.end());
  op.deps.assign(deps.begin(), deps.end());
  for (std::size_t i = 0; i < reads.size(); ++i) found[i]->reads_since.push_back(index);
  for (std::size_t i = reads.size(); i < found.size(); ++i) {
    found[i]->last_write = index;
    found[i]->reads_since.clear();
  }
  ops.push_back(std::move(op));
  return index;
}

int ProgramBuilder::compute(int rank, ComputeOp c, int round, Name label) {
  Op op{std::move(c), compute_stream, {}, round, label};
  return add(rank, std::move(op));
}

int ProgramBuilder::send(int rank, int peer, Name tag, Parts parts, Stream stream, int group, int round) {
  SendOp s;
  s.peer = peer;
  s.tag = tag;
  s.parts = std::move(parts);
  s.group = group;
  return add(rank, Op{std::move(s), stream, {}, round, {}});
}

int ProgramBuilder::recv(int rank, int peer, Name tag, Parts parts, Stream stream, int group, int round) {
  RecvOp r;
  r.peer = peer;
  r.tag = tag;
  r.parts = std::move(parts);
  r.group = group;
  return add(rank, Op{std::move(r), stream, {}, round, {}});
}

int ProgramBuilder::collective(int rank, CollectiveOp c, Stream stream, int round, Name label) {
  return add(rank, Op{std::move(c), stream, {}, round, label});
}

void ProgramBuilder::reserve(int rank, std::size_t more) {
  std::vector<Op>& ops = s_.programs.at(static_cast<std::size_t>(rank)).ops;
  if (ops.capacity() < ops.size() + more) ops.reserve(std::max(ops.size() + more, 2 * ops.capacity()));
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
