// Buffer inference (see buffers.hpp).
#include "gpu/buffers.hpp"

#include <algorithm>

namespace xattn::gpu {
namespace {

struct Planner {
  const Schedule& s;
  RankBuffers* rb = nullptr;
  bool changed = false;

  BufferSpec& get(const std::string& name) {
    auto it = rb->index.find(name);
    if (it != rb->index.end()) return rb->buffers[static_cast<std::size_t>(it->second)];
    rb->index.emplace(name, static_cast<int>(rb->buffers.size()));
    rb->buffers.push_back(BufferSpec{name});
    changed = true;
    return rb->buffers.back();
  }
  void bytes(const std::string& name, std::int64_t b) {
    if (name.empty()) return;
    BufferSpec& x = get(name);
    if (b > x.bytes) { x.bytes = b; changed = true; }
  }
  void stat(const std::string& name) {
    if (name.empty()) return;
    BufferSpec& x = get(name);
    if (x.cls != BufferClass::stat) { x.cls = BufferClass::stat; changed = true; }
  }
  void dims(const std::string& name, std::int64_t rows, std::int64_t heads) {
    if (name.empty()) return;
    BufferSpec& x = get(name);
    if (x.rows == 0 && rows > 0) { x.rows = rows; changed = true; }
    if (x.heads == 0 && heads > 0) { x.heads = heads; changed = true; }
  }
  std::int64_t act(std::int64_t rows, std::int64_t heads) const {
    return s.shape.batch * rows * heads * s.shape.head_dim * s.shape.element_bytes();
  }
  std::int64_t st(std::int64_t rows, std::int64_t heads) const { return s.shape.batch * rows * heads * 4; }
  // An activation buffer of (rows, heads) and its stat twin.
  void act_buf(const std::string& n, std::int64_t rows, std::int64_t heads) { bytes(n, act(rows, heads)); dims(n, rows, heads); }
  void stat_buf(const std::string& n, std::int64_t rows, std::int64_t heads) {
    stat(n); bytes(n, st(rows, heads)); dims(n, rows, heads);
  }
  // a and b have the same size, class and dims.
  void same(const std::string& a, const std::string& b) {
    if (a.empty() || b.empty()) return;
    BufferSpec& x = get(a);
    BufferSpec& y = get(b);
    const std::int64_t m = std::max(x.bytes, y.bytes);
    if (x.bytes != m || y.bytes != m) { x.bytes = y.bytes = m; changed = true; }
    if (x.cls != y.cls) { x.cls = y.cls = BufferClass::stat; changed = true; }
    if (x.rows == 0 && y.rows > 0) { x.rows = y.rows; changed = true; }
    if (y.rows == 0 && x.rows > 0) { y.rows = x.rows; changed = true; }
    if (x.heads == 0 && y.heads > 0) { x.heads = y.heads; changed = true; }
    if (y.heads == 0 && x.heads > 0) { y.heads = x.heads; changed = true; }
  }
  // The stat buffer that goes with activation buffer `o` (same rows and heads).
  void stat_of(const std::string& o, const std::string& l) {
    if (o.empty() || l.empty()) return;
    stat(l);
    BufferSpec& x = get(o);
    if (x.rows > 0 && x.heads > 0) stat_buf(l, x.rows, x.heads);
    BufferSpec& y = get(l);
    if (y.rows > 0 && y.heads > 0) dims(o, y.rows, y.heads);
  }

  void compute(const ComputeOp& c) {
    const BlockShape& b = c.block;
    switch (c.kind) {
      case ComputeKind::attention_forward:
      case ComputeKind::attention_backward:
        act_buf(c.q, b.q_rows, b.heads);
        act_buf(c.k, b.kv_rows, b.kv_heads);
        act_buf(c.v, b.kv_rows, b.kv_heads);
        act_buf(c.o, b.q_rows, b.heads);
        act_buf(c.dout, b.q_rows, b.heads);
        act_buf(c.dq, b.q_rows, b.heads);
        act_buf(c.dk, b.kv_rows, b.kv_heads);
        act_buf(c.dv, b.kv_rows, b.kv_heads);
        stat_buf(c.lse, b.q_rows, b.heads);
        stat_buf(c.delta, b.q_rows, b.heads);
        break;
      case ComputeKind::merge:
        same(c.o, c.part_o);
        same(c.lse, c.part_lse);
        stat_of(c.o, c.lse);
        stat_of(c.part_o, c.part_lse);
        break;
      case ComputeKind::rescale:
        stat_of(c.o, c.lse);
        same(c.lse, c.merged_lse);
        break;
      case ComputeKind::softmax_delta:
        same(c.o, c.dout);
        stat_of(c.o, c.delta);
        break;
      case ComputeKind::lse_combine:
        stat(c.src);
        stat(c.dst);
        break;
      case ComputeKind::accumulate:
      case ComputeKind::copy:
        if (c.touched.value() > 0) bytes(c.src, static_cast<std::int64_t>(c.touched.value() / (c.kind == ComputeKind::copy ? 2.0 : 3.0)));
        if (!c.rows) same(c.src, c.dst);
        else if (get(c.src).cls == BufferClass::stat) stat(c.dst);
        break;
      case ComputeKind::fill_zero:
        same(c.src, c.dst);
        break;
      case ComputeKind::fill_empty_output:
        same(c.q, c.o);
        stat_of(c.o, c.lse);
        break;      case ComputeKind::gemm:
      case ComputeKind::encoder:
      case ComputeKind::elementwise:
      case ComputeKind::host_sync:
        break;  // a training step's other work: the simulator times it; no buffers here
    }
  }

  void collective(const CollectiveOp& c) {
    const std::int64_t n = static_cast<std::int64_t>(c.group.size());
    std::int64_t sum = 0, most = 0;
    for (const Bytes& b : c.bytes_to) {
      sum += static_cast<std::int64_t>(b.value());
      most = std::max(most, static_cast<std::int64_t>(b.value()));
    }
    switch (c.kind) {
      case CollectiveKind::all_to_all:  // own piece assumed no larger than the largest sent
        bytes(c.input, sum + most);
        bytes(c.output, sum + most);
        break;
      case CollectiveKind::all_gather:
        bytes(c.input, most);
        bytes(c.output, most * n);
        break;
      case CollectiveKind::reduce_scatter:
        bytes(c.input, sum + most);
        bytes(c.output, most);
        break;
      case CollectiveKind::all_reduce:  // bytes_to = 2·size/n
        bytes(c.input, most * n / 2);
        bytes(c.output, most * n / 2);
        break;
    }
    if (c.combine == Combine::stack) { stat(c.input); stat(c.output); }
  }
};

bool is_q_like(const std::string& n) { return n == "q" || n == "o" || n == "do" || n == "dq" || n == "dout"; }
bool is_kv_like(const std::string& n) { return n == "k" || n == "v" || n == "dk" || n == "dv"; }
bool is_stat_name(const std::string& n) { return n == "lse" || n == "delta"; }

}  // namespace

std::int64_t RankBuffers::total_bytes() const {
  std::int64_t t = 0;
  for (const auto& b : buffers) t += b.bytes;
  return t;
}

BufferPlan plan_buffers(const Schedule& s) {
  BufferPlan plan;
  plan.ranks.resize(static_cast<std::size_t>(s.ranks()));
  for (int r = 0; r < s.ranks(); ++r) {
    Planner p{s};
    p.rb = &plan.ranks[static_cast<std::size_t>(r)];
    // The schedule's own inputs and outputs, in sequence layout.
    const RankData* d = static_cast<std::size_t>(r) < s.data.size() ? &s.data[static_cast<std::size_t>(r)] : nullptr;
    auto seed = [&](const std::string& n) {
      if (d == nullptr) return;
      if (is_q_like(n)) p.act_buf(n, d->q_tokens.size(), s.shape.heads);
      else if (is_kv_like(n)) p.act_buf(n, d->kv_tokens.size(), s.shape.kv_heads);
      else if (is_stat_name(n)) p.stat_buf(n, d->q_tokens.size(), s.shape.heads);
    };
    for (const auto& n : s.inputs) seed(n);
    for (const auto& n : s.outputs) seed(n);
    for (int pass = 0; pass < 8; ++pass) {
      p.changed = false;
      for (const Op& op : s.programs[static_cast<std::size_t>(r)].ops) {
        if (const ComputeOp* c = op.compute()) p.compute(*c);
        else if (const TransferOp* t = op.transfer()) {
          for (const Part& part : t->parts) p.bytes(part.buffer, static_cast<std::int64_t>(part.size.value()));
        } else if (const CollectiveOp* col = op.collective()) {
          p.collective(*col);
        }
      }
      if (!p.changed) break;
    }
    for (const auto& n : s.inputs)
      if (auto it = p.rb->index.find(n); it != p.rb->index.end()) p.rb->buffers[static_cast<std::size_t>(it->second)].input = true;
    for (auto& b : p.rb->buffers) b.bytes = std::max<std::int64_t>(b.bytes, 4);
  }
  return plan;
}

}  // namespace xattn::gpu
