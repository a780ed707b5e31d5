// Chrome-trace JSON and per-op CSV of a Timeline, and the trace read back (see trace.hpp).
#include "sim/trace.hpp"

#include "model/error.hpp"

#include <cmath>
#include <sstream>
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
        args["tag"] = tr->tag.str();
      }
      events.push_back({{"name", op.describe()},
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
                         x.end.microseconds(), (x.end - x.posted).microseconds(), csv_quote(op.describe()));
    }
  }
  return out;
}

}  // namespace xattn::sim

// ---- reading a trace back -----------------------------------------------------------------

namespace xattn::sim {

namespace {

[[noreturn]] void bad(const std::string& source, const std::string& field, const std::string& message) {
  throw InputError(Origin{source}, field, message);
}

// Microseconds (as the exporter writes them, full double precision) to picoseconds.
Time from_us(const nlohmann::json& v, const std::string& source, const std::string& field) {
  if (!v.is_number()) bad(source, field, "expected a number of microseconds");
  const double us = v.get<double>();
  if (!std::isfinite(us) || us < 0) bad(source, field, fmt::format("{} us is not a time", us));
  return Time::ps(std::llround(us * 1e6));
}

}  // namespace

nlohmann::json parse_trace(const std::string& text, const std::string& source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    bad(source, "(file)",
        fmt::format("not valid JSON at byte {} (a truncated or unfinished trace?): {}", e.byte, e.what()));
  }
  if (!doc.is_object()) bad(source, "(file)", "expected a Chrome-trace object with traceEvents and metadata");
  if (!doc.contains("traceEvents") || !doc["traceEvents"].is_array()) bad(source, "traceEvents", "missing, or not an array");
  if (!doc.contains("metadata") || !doc["metadata"].is_object())
    bad(source, "metadata", "missing, or not an object (was the trace written by xattn?)");
  return doc;
}

TraceMetadata trace_metadata(const nlohmann::json& doc, const std::string& source) {
  const nlohmann::json& m = doc.at("metadata");
  auto text = [&](const char* key) {
    if (!m.contains(key) || !m[key].is_string()) bad(source, fmt::format("metadata.{}", key), "missing, or not a string");
    return m[key].get<std::string>();
  };
  TraceMetadata out;
  out.mechanism = text("mechanism");
  out.pass = text("pass");
  out.scenario = text("scenario");
  out.engine = m.contains("engine") && m["engine"].is_string() ? m["engine"].get<std::string>() : std::string();
  if (!m.contains("P") || !m["P"].is_number_integer() || m["P"].get<int>() < 1)
    bad(source, "metadata.P", "missing, or not a positive integer");
  out.ranks = m["P"].get<int>();
  out.all = m;
  return out;
}

Timeline read_chrome_trace(const nlohmann::json& doc, const Schedule& s, const std::string& source) {
  const TraceMetadata meta = trace_metadata(doc, source);
  if (meta.mechanism != s.mechanism.name())
    bad(source, "metadata.mechanism", fmt::format("the trace is of '{}'; the schedule is '{}'", meta.mechanism, s.mechanism.name()));
  if (meta.pass != to_string(s.pass))
    bad(source, "metadata.pass", fmt::format("the trace is of pass '{}'; the schedule's is '{}'", meta.pass, to_string(s.pass)));
  if (meta.ranks != s.ranks())
    bad(source, "metadata.P", fmt::format("the trace has P = {}; the schedule has {} ranks", meta.ranks, s.ranks()));
  Timeline t;
  t.ops.resize(static_cast<std::size_t>(s.ranks()));
  std::vector<std::vector<bool>> seen(static_cast<std::size_t>(s.ranks()));
  for (int r = 0; r < s.ranks(); ++r) {
    t.ops[static_cast<std::size_t>(r)].resize(s.programs[static_cast<std::size_t>(r)].ops.size());
    seen[static_cast<std::size_t>(r)].assign(s.programs[static_cast<std::size_t>(r)].ops.size(), false);
  }
  t.compute_busy.assign(static_cast<std::size_t>(s.ranks()), Time());
  const auto& events = doc.at("traceEvents");
  for (std::size_t e = 0; e < events.size(); ++e) {
    const nlohmann::json& ev = events[e];
    if (!ev.is_object() || !ev.contains("ph") || ev["ph"] != "X") continue;
    const std::string at = fmt::format("traceEvents[{}]", e);
    if (!ev.contains("args") || !ev["args"].is_object() || !ev["args"].contains("id") || !ev["args"]["id"].is_string())
      bad(source, at + ".args.id", "a complete event without an op id \"rank/index\"");
    const std::string id = ev["args"]["id"].get<std::string>();
    int rank = -1, index = -1;
    char slash = 0;
    std::istringstream in(id);
    if (!(in >> rank >> slash >> index) || slash != '/' || in.peek() != EOF)
      bad(source, at + ".args.id", fmt::format("'{}' is not an op id \"rank/index\"", id));
    if (rank < 0 || rank >= s.ranks() || index < 0 ||
        index >= static_cast<int>(s.programs[static_cast<std::size_t>(rank)].ops.size()))
      bad(source, at + ".args.id", fmt::format("op {} is not in the {} {} schedule for P = {}", id, s.mechanism.name(),
                                               to_string(s.pass), s.ranks()));
    const Op& op = s.op(OpId{rank, index});
    if (ev.contains("pid") && (!ev["pid"].is_number_integer() || ev["pid"].get<int>() != rank))
      bad(source, at + ".pid", fmt::format("op {} is drawn on process {}, not on its rank's", id, ev["pid"].dump()));
    if (ev["args"].contains("kind") && ev["args"]["kind"] != kind_name(op))
      bad(source, at + ".args.kind",
          fmt::format("op {} is a {} in the trace but a {} in the schedule (another schedule's trace?)", id,
                      ev["args"]["kind"].dump(), kind_name(op)));
    auto mark = seen[static_cast<std::size_t>(rank)].begin() + index;
    if (*mark) bad(source, at + ".args.id", fmt::format("op {} appears twice", id));
    *mark = true;
    if (!ev.contains("ts")) bad(source, at + ".ts", fmt::format("op {}: missing", id));
    if (!ev.contains("dur")) bad(source, at + ".dur", fmt::format("op {}: missing", id));
    OpTimes& x = t.ops[static_cast<std::size_t>(rank)][static_cast<std::size_t>(index)];
    x.posted = from_us(ev["ts"], source, at + ".ts");
    x.end = x.posted + from_us(ev["dur"], source, at + ".dur");
    x.start = x.posted;
    if (ev["args"].contains("waited_us")) x.start = x.posted + from_us(ev["args"]["waited_us"], source, at + ".args.waited_us");
    if (x.start > x.end)
      bad(source, at + ".args.waited_us", fmt::format("op {} starts after it ends", id));
    if (op.kind() == OpKind::compute) t.compute_busy[static_cast<std::size_t>(rank)] += x.end - x.start;
    t.makespan = max(t.makespan, x.end);
  }
  for (int r = 0; r < s.ranks(); ++r)
    for (std::size_t i = 0; i < seen[static_cast<std::size_t>(r)].size(); ++i)
      if (!seen[static_cast<std::size_t>(r)][i])
        bad(source, "traceEvents",
            fmt::format("op {}/{} of the schedule has no event in the trace (truncated, or of another schedule?)", r, i));
  return t;
}

}  // namespace xattn::sim
