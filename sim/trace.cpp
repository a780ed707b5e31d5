// Chrome-trace JSON and per-op CSV of a Timeline (see trace.hpp).
#include "sim/trace.hpp"

#include <unordered_map>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace xattn::sim {

namespace {

std::string kind_name(const Op& op) {
  if (const ComputeOp* c = op.compute()) return std::string(to_string(c->kind));
  if (const CollectiveOp* c = op.collective()) return std::string(to_string(c->kind));
  return std::string(to_string(op.kind()));
}

double op_bytes(const Op& op) {
  if (const TransferOp* t = op.transfer()) return t->size().value();
  if (const CollectiveOp* c = op.collective()) return c->bytes_sent().value();
  if (const ComputeOp* c = op.compute()) return c->touched.value();
  return 0.0;
}

double op_flops(const Op& op) {
  const ComputeOp* c = op.compute();
  return c != nullptr ? c->flops.value() : 0.0;
}

int tid_of(const Stream& s) { return s.kind == StreamKind::compute ? 0 : 1 + s.index; }

std::string csv_quote(const std::string& s) {
  if (s.find_first_of(",\"\n") == std::string::npos) return s;
  std::string out = "\"";
  for (char ch : s) {
    if (ch == '"') out += '"';
    out += ch;
  }
  return out + "\"";
}

}  // namespace

std::string chrome_trace_json(const Schedule& s, const Timeline& t, const TraceInfo& info) {
  nlohmann::ordered_json events = nlohmann::ordered_json::array();
  for (int r = 0; r < s.ranks(); ++r) {
    events.push_back({{"name", "process_name"}, {"ph", "M"}, {"pid", r}, {"args", {{"name", fmt::format("rank {}", r)}}}});
    std::vector<bool> named;
    for (const Op& op : s.programs[static_cast<std::size_t>(r)].ops) {
      const int tid = tid_of(op.stream);
      if (static_cast<int>(named.size()) <= tid) named.resize(static_cast<std::size_t>(tid) + 1, false);
      if (named[static_cast<std::size_t>(tid)]) continue;
      named[static_cast<std::size_t>(tid)] = true;
      events.push_back({{"name", "thread_name"}, {"ph", "M"}, {"pid", r}, {"tid", tid}, {"args", {{"name", op.stream.name()}}}});
    }
  }
  // Each Recv, by (sender, receiver, tag), for the flow arrows.
  std::unordered_map<std::string, int> recv_of;
  for (int r = 0; r < s.ranks(); ++r) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    for (std::size_t i = 0; i < ops.size(); ++i)
      if (ops[i].kind() == OpKind::recv)
        recv_of.emplace(fmt::format("{}>{}:{}", ops[i].transfer()->peer, r, ops[i].transfer()->tag), static_cast<int>(i));
  }
  std::uint64_t flow_id = 0;
  for (int r = 0; r < s.ranks(); ++r) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      const OpTimes& times = t.ops[static_cast<std::size_t>(r)][i];
      const OpId id{r, static_cast<int>(i)};
      const int tid = tid_of(op.stream);
      nlohmann::ordered_json args = {{"id", id.str()},
                                     {"kind", kind_name(op)},
                                     {"bytes", op_bytes(op)},
                                     {"flops", op_flops(op)},
                                     {"round", op.round},
                                     {"waited_us", (times.start - times.posted).microseconds()}};
      if (const TransferOp* tr = op.transfer()) {
        args["peer"] = tr->peer;
        args["tag"] = tr->tag;
      }
      events.push_back({{"name", op.label.empty() ? kind_name(op) : op.label},
                        {"cat", std::string(to_string(op.kind()))},
                        {"ph", "X"},
                        {"pid", r},
                        {"tid", tid},
                        {"ts", times.posted.microseconds()},
                        {"dur", (times.end - times.posted).microseconds()},
                        {"args", std::move(args)}});
      // A flow arrow from the Send (when data starts moving) to its Recv (when it lands).
      if (op.kind() == OpKind::send) {
        const int peer = op.transfer()->peer;
        auto it = recv_of.find(fmt::format("{}>{}:{}", r, peer, op.transfer()->tag));
        if (it != recv_of.end()) {
          const std::size_t j = static_cast<std::size_t>(it->second);
          const Op& other = s.programs[static_cast<std::size_t>(peer)].ops[j];
          const OpTimes& rt = t.ops[static_cast<std::size_t>(peer)][j];
          ++flow_id;
          events.push_back({{"name", "transfer"}, {"cat", "transfer"}, {"ph", "s"}, {"id", flow_id}, {"pid", r},
                            {"tid", tid}, {"ts", times.start.microseconds()}});
          events.push_back({{"name", "transfer"}, {"cat", "transfer"}, {"ph", "f"}, {"bp", "e"}, {"id", flow_id},
                            {"pid", peer}, {"tid", tid_of(other.stream)}, {"ts", rt.start.microseconds()}});
        }
      }
    }
  }
  nlohmann::ordered_json doc;
  doc["traceEvents"] = std::move(events);
  doc["displayTimeUnit"] = "ns";
  doc["metadata"] = {{"mechanism", s.mechanism.name()},
                     {"pass", std::string(to_string(s.pass))},
                     {"P", s.ranks()},
                     {"scenario", info.scenario},
                     {"engine", info.engine},
                     {"makespan_us", t.makespan.microseconds()},
                     {"link_shared", t.link_shared}};
  return doc.dump(1) + "\n";
}

std::string ops_csv(const Schedule& s, const Timeline& t) {
  std::string out = "op_id,rank,index,stream,kind,round,peer,bytes,flops,posted_us,start_us,end_us,duration_us,label\n";
  for (int r = 0; r < s.ranks(); ++r) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      const OpTimes& x = t.ops[static_cast<std::size_t>(r)][i];
      const TransferOp* tr = op.transfer();
      out += fmt::format("{}/{},{},{},{},{},{},{},{},{},{:.6f},{:.6f},{:.6f},{:.6f},{}\n", r, i, r, i, op.stream.name(),
                         kind_name(op), op.round, tr != nullptr ? fmt::format("{}", tr->peer) : std::string(),
                         op_bytes(op), op_flops(op), x.posted.microseconds(), x.start.microseconds(),
                         x.end.microseconds(), (x.end - x.posted).microseconds(), csv_quote(op.label));
    }
  }
  return out;
}

}  // namespace xattn::sim
