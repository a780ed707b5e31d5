// Chrome-trace JSON and per-op CSV of a Timeline, and the trace read back (see trace.hpp).
#include "model/schedule/trace.hpp"

#include "model/core/error.hpp"
#include "model/schedule/structure.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <stdexcept>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>

namespace xattn {

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

namespace {

// A JSON string literal: quotes, backslashes and control characters escaped (RFC 8259).
void append_json_string(fmt::memory_buffer& out, std::string_view text) {
  out.push_back('"');
  for (char ch : text) {
    switch (ch) {
      case '"': out.append(std::string_view("\\\"")); break;
      case '\\': out.append(std::string_view("\\\\")); break;
      case '\n': out.append(std::string_view("\\n")); break;
      case '\t': out.append(std::string_view("\\t")); break;
      case '\r': out.append(std::string_view("\\r")); break;
      default:
        if (static_cast<unsigned char>(ch) < 0x20) fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<int>(ch));
        else out.push_back(ch);
    }
  }
  out.push_back('"');
}

// The ranks to write, ascending; all of them when `wanted` is empty. Throws
// std::invalid_argument for a rank the schedule does not have.
std::vector<int> ranks_to_write(const Schedule& s, const std::vector<int>& wanted) {
  std::vector<int> ranks = wanted;
  if (ranks.empty())
    for (int r = 0; r < s.ranks(); ++r) ranks.push_back(r);
  std::sort(ranks.begin(), ranks.end());
  ranks.erase(std::unique(ranks.begin(), ranks.end()), ranks.end());
  for (int r : ranks)
    if (r < 0 || r >= s.ranks())
      throw std::invalid_argument(fmt::format("rank {} is not in the schedule (ranks 0 to {})", r, s.ranks() - 1));
  return ranks;
}

}  // namespace

// Written as text, event by event (one per line), rather than built as a JSON document:
// a 512-GPU Ring fwd+bwd is 2.9 million ops, and a document of them took 9 GB.
std::string chrome_trace_json(const Schedule& s, const Timeline& t, const TraceInfo& info) {
  const std::vector<int> ranks = ranks_to_write(s, info.ranks);
  std::vector<bool> written(static_cast<std::size_t>(s.ranks()), false);
  for (int r : ranks) written[static_cast<std::size_t>(r)] = true;
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  bool first = true;
  auto begin_event = [&] {
    out.append(std::string_view(first ? "{\"traceEvents\": [\n" : ",\n"));
    first = false;
  };
  for (int r : ranks) {
    begin_event();
    fmt::format_to(it, R"({{"name": "process_name", "ph": "M", "pid": {}, "args": {{"name": "rank {}"}}}})", r, r);
    std::vector<bool> named;
    for (const Op& op : s.programs[static_cast<std::size_t>(r)].ops) {
      const int tid = tid_of(op.stream);
      if (static_cast<int>(named.size()) <= tid) named.resize(static_cast<std::size_t>(tid) + 1, false);
      if (named[static_cast<std::size_t>(tid)]) continue;
      named[static_cast<std::size_t>(tid)] = true;
      begin_event();
      fmt::format_to(it, R"({{"name": "thread_name", "ph": "M", "pid": {}, "tid": {}, "args": {{"name": )", r, tid);
      append_json_string(out, op.stream.name());
      out.append(std::string_view("}}"));
    }
  }
  // Each Send's Recv, for the flow arrows (the structure's pairs: the k-th Send of a key
  // with the k-th Recv); an arrow needs both of its ends in the file.
  const ScheduleStructure structure(s, StructureDetail::lean);
  std::uint64_t flow_id = 0;
  for (int r : ranks) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      const OpTimes& times = t.ops[static_cast<std::size_t>(r)][i];
      const int tid = tid_of(op.stream);
      begin_event();
      out.append(std::string_view(R"({"name": )"));
      append_json_string(out, op.describe());
      fmt::format_to(it, R"(, "cat": "{}", "ph": "X", "pid": {}, "tid": {}, "ts": {}, "dur": {}, "args": {{"id": "{}/{}", "kind": )",
                     to_string(op.kind()), r, tid, times.posted.microseconds(), (times.end - times.posted).microseconds(), r, i);
      append_json_string(out, kind_name(op));
      fmt::format_to(it, R"(, "bytes": {}, "flops": {}, "round": {}, "waited_us": {})", op_bytes(op), op_flops(op), op.round,
                     (times.start - times.posted).microseconds());
      const TransferOp* tr = op.transfer();
      if (tr != nullptr) {
        fmt::format_to(it, R"(, "peer": {}, "tag": )", tr->peer);
        append_json_string(out, tr->tag.view());
      }
      out.append(std::string_view("}}"));
      // A flow arrow from the Send (when data starts moving) to its Recv (when it lands).
      if (op.kind() != OpKind::send || !written[static_cast<std::size_t>(tr->peer)]) continue;
      const OpId partner = structure.partner(OpId{r, static_cast<int>(i)});
      if (partner.rank < 0) continue;
      const auto j = static_cast<std::size_t>(partner.index);
      const Op& other = s.programs[static_cast<std::size_t>(tr->peer)].ops[j];
      const OpTimes& rt = t.ops[static_cast<std::size_t>(tr->peer)][j];
      ++flow_id;
      begin_event();
      fmt::format_to(it, R"({{"name": "transfer", "cat": "transfer", "ph": "s", "id": {}, "pid": {}, "tid": {}, "ts": {}}})",
                     flow_id, r, tid, times.start.microseconds());
      begin_event();
      fmt::format_to(it,
                     R"({{"name": "transfer", "cat": "transfer", "ph": "f", "bp": "e", "id": {}, "pid": {}, "tid": {}, "ts": {}}})",
                     flow_id, tr->peer, tid_of(other.stream), rt.start.microseconds());
    }
  }
  if (first) out.append(std::string_view("{\"traceEvents\": ["));
  out.append(std::string_view("\n],\n\"displayTimeUnit\": \"ns\",\n\"metadata\": {\"mechanism\": "));
  append_json_string(out, s.mechanism.name());
  fmt::format_to(it, R"(, "pass": "{}", "P": {}, "scenario": )", to_string(s.pass), s.ranks());
  append_json_string(out, info.scenario);
  out.append(std::string_view(R"(, "engine": )"));
  append_json_string(out, info.engine);
  fmt::format_to(it, R"(, "makespan_us": {}, "link_shared": {})", t.makespan.microseconds(), t.link_shared);
  if (static_cast<int>(ranks.size()) < s.ranks()) fmt::format_to(it, R"(, "ranks_traced": [{}])", fmt::join(ranks, ", "));
  out.append(std::string_view("}}\n"));
  return fmt::to_string(out);
}

std::string ops_csv(const Schedule& s, const Timeline& t, const std::vector<int>& only_ranks) {
  fmt::memory_buffer out;
  auto it = std::back_inserter(out);
  out.append(std::string_view("op_id,rank,index,stream,kind,round,peer,bytes,flops,posted_us,start_us,end_us,duration_us,label\n"));
  for (int r : ranks_to_write(s, only_ranks)) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      const OpTimes& x = t.ops[static_cast<std::size_t>(r)][i];
      const TransferOp* tr = op.transfer();
      fmt::format_to(it, "{}/{},{},{},{},{},{},", r, i, r, i, op.stream.name(), kind_name(op), op.round);
      if (tr != nullptr) fmt::format_to(it, "{}", tr->peer);
      fmt::format_to(it, ",{},{},{:.6f},{:.6f},{:.6f},{:.6f},{}\n", op_bytes(op), op_flops(op), x.posted.microseconds(),
                     x.start.microseconds(), x.end.microseconds(), (x.end - x.posted).microseconds(), csv_quote(op.describe()));
    }
  }
  return fmt::to_string(out);
}

}  // namespace xattn

// ---- reading a trace back -----------------------------------------------------------------

namespace xattn {

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
  if (meta.all.contains("ranks_traced") && meta.all["ranks_traced"].is_array() &&
      static_cast<int>(meta.all["ranks_traced"].size()) < s.ranks())
    bad(source, "metadata.ranks_traced",
        fmt::format("the trace holds {} of the {} ranks (written with --ranks): a partial trace cannot be compared op by "
                    "op; write it with every rank",
                    meta.all["ranks_traced"].size(), s.ranks()));
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

}  // namespace xattn
