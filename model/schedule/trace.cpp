// Chrome-trace JSON and per-op CSV of a Timeline, and the trace read back (see trace.hpp).
#include "model/schedule/trace.hpp"

#include "model/core/error.hpp"
#include "model/core/limits.hpp"
#include "model/core/text.hpp"
#include "model/schedule/structure.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
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
void append_json_string(fmt::memory_buffer& out, std::string_view raw) {
  // JSON text is UTF-8 (RFC 8259 §8.1): a name that is not has its bad bytes replaced.
  const std::string repaired = is_valid_utf8(raw) ? std::string() : to_valid_utf8(raw);
  const std::string_view text = repaired.empty() ? raw : std::string_view(repaired);
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
      // A training step's sharding collectives have a stream of their own: say so.
      append_json_string(out, op.part == StepPart::sharding ? fmt::format("dp ({})", op.stream.name()) : op.stream.name());
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
      // In a training step an op is named by where it sits ("layer 12 self-attention fwd
      // round 3"), what it is going in args.op.
      const std::string phase = op.phase();
      append_json_string(out, phase.empty() ? op.describe() : phase);
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
      if (!phase.empty()) {
        fmt::format_to(it, R"(, "layer": {}, "part": "{}", "op": )", op.layer, to_string(op.part));
        append_json_string(out, op.describe());
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
  out.append(std::string_view("op_id,rank,index,stream,kind,round,peer,bytes,flops,posted_us,start_us,end_us,duration_us,label,layer,phase\n"));
  for (int r : ranks_to_write(s, only_ranks)) {
    const auto& ops = s.programs[static_cast<std::size_t>(r)].ops;
    for (std::size_t i = 0; i < ops.size(); ++i) {
      const Op& op = ops[i];
      const OpTimes& x = t.ops[static_cast<std::size_t>(r)][i];
      const TransferOp* tr = op.transfer();
      fmt::format_to(it, "{}/{},{},{},{},{},{},", r, i, r, i, op.stream.name(), kind_name(op), op.round);
      if (tr != nullptr) fmt::format_to(it, "{}", tr->peer);
      fmt::format_to(it, ",{},{},{:.6f},{:.6f},{:.6f},{:.6f},{}", op_bytes(op), op_flops(op), x.posted.microseconds(),
                     x.start.microseconds(), x.end.microseconds(), (x.end - x.posted).microseconds(), csv_quote(op.describe()));
      // A training step's ops: the layer (-1 outside one) and where in the step they sit.
      if (op.part == StepPart::none) out.append(std::string_view(",,\n"));
      else fmt::format_to(it, ",{},{}\n", op.layer, csv_quote(op.phase()));
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
  try {
    return Time::ps(Time::nearest_ps(us * 1e6));
  } catch (const ClockOverflow& e) {
    bad(source, field, fmt::format("{} us: {}", us, e.what()));
  }
}

// A JSON integer within [lo, hi] (an unsigned one too), or nullopt.
std::optional<std::int64_t> integer_in(const nlohmann::json& v, std::int64_t lo, std::int64_t hi) {
  if (v.is_number_unsigned()) {
    const std::uint64_t u = v.get<std::uint64_t>();
    if (u > static_cast<std::uint64_t>(hi)) return std::nullopt;
    const auto x = static_cast<std::int64_t>(u);
    return x >= lo ? std::optional<std::int64_t>(x) : std::nullopt;
  }
  if (!v.is_number_integer()) return std::nullopt;
  const std::int64_t x = v.get<std::int64_t>();
  return x >= lo && x <= hi ? std::optional<std::int64_t>(x) : std::nullopt;
}

}  // namespace

nlohmann::json parse_trace(const std::string& text, const std::string& source) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    bad(source, "(file)",
        fmt::format("not valid JSON at byte {} (a truncated or unfinished trace?): {}", e.byte, e.what()));
  } catch (const nlohmann::json::exception& e) {  // a number beyond a double (1e999), nesting too deep
    bad(source, "(file)", fmt::format("not a trace xattn can read: {}", e.what()));
  }
  if (!doc.is_object()) bad(source, "(file)", "expected a Chrome-trace object with traceEvents and metadata");
  if (!doc.contains("traceEvents") || !doc["traceEvents"].is_array()) bad(source, "traceEvents", "missing, or not an array");
  if (!doc.contains("metadata") || !doc["metadata"].is_object())
    bad(source, "metadata", "missing, or not an object (was the trace written by xattn?)");
  return doc;
}

std::string_view to_string(RunTransport t) {
  switch (t) {
    case RunTransport::loopback: return "loopback";
    case RunTransport::nccl: return "nccl";
    case RunTransport::scenario: return "scenario";
  }
  return "?";
}

std::string_view to_string(ComputePlacement p) {
  return p == ComputePlacement::one_device_stream ? "one_device_stream" : "per_rank_streams";
}

nlohmann::json run_settings_json(const RunSettings& run) {
  nlohmann::json m = {
      {"transport", std::string(to_string(run.transport))},
      {"link_bandwidth_GBps", run.link_bandwidth_GBps},
      {"link_latency_us", run.link_latency_us},
      {"link_paced", run.link_paced},
      {"fifo_pairs", run.fifo_pairs},
      {"dtype", run.dtype},
      {"device", run.device},
      {"ranks_per_device", run.ranks_per_device},
      {"processes", run.processes},
      {"launch", run.launch},
      {"reps", run.reps},
      {"warmup", run.warmup},
      {"reported_run", run.reported_run},
      {"makespans_s", run.makespans_s},
      {"compute_s", run.compute_s},
      {"exposed_comm_s", run.exposed_comm_s},
      {"overrides", run.overrides},
  };
  if (run.placement) m["compute_placement"] = std::string(to_string(*run.placement));
  if (run.accumulator_bytes) m["accumulator_bytes"] = *run.accumulator_bytes;
  if (!run.launcher.empty()) m["launcher"] = run.launcher;
  if (!run.time_origin.empty()) m["time_origin"] = run.time_origin;
  if (!run.compute_order.empty()) {
    nlohmann::json order = nlohmann::json::array();
    for (const OpId& id : run.compute_order) order.push_back(id.str());
    m["compute_order"] = std::move(order);
  }
  return m;
}

namespace {

// Reads the keys of one metadata object: a key that is absent keeps the default; one that
// is there must have the right type.
class MetadataReader {
 public:
  MetadataReader(const nlohmann::json& m, const std::string& source) : m_(m), source_(source) {}

  [[nodiscard]] bool has(const char* key) const { return m_.contains(key); }
  [[noreturn]] void fail(const char* key, const std::string& message) const {
    bad(source_, fmt::format("metadata.{}", key), message);
  }
  void text(const char* key, std::string& out) const {
    if (!has(key)) return;
    if (!m_[key].is_string()) fail(key, "expected a string");
    out = m_[key].get<std::string>();
  }
  void number(const char* key, double& out) const {
    if (!has(key)) return;
    if (!m_[key].is_number()) fail(key, "expected a number");
    out = m_[key].get<double>();
  }
  // An integer as the writers spell it; read as a number and truncated, as it always was,
  // within what an int holds.
  void integer(const char* key, int& out) const {
    double v = out;
    number(key, v);
    if (!(v >= 0 && v <= 2147483647.0)) fail(key, fmt::format("{} is not a count from 0 to 2^31 - 1", v));
    out = static_cast<int>(v);
  }
  void boolean(const char* key, bool& out) const {
    if (!has(key)) return;
    if (!m_[key].is_boolean()) fail(key, "expected true or false");
    out = m_[key].get<bool>();
  }
  void texts(const char* key, std::vector<std::string>& out, const char* what) const {
    if (!has(key)) return;
    if (!m_[key].is_array()) fail(key, fmt::format("expected an array of {}", what));
    out.clear();
    for (const auto& v : m_[key]) {
      if (!v.is_string()) fail(key, fmt::format("expected strings {}", what));
      out.push_back(v.get<std::string>());
    }
  }
  void numbers(const char* key, std::vector<double>& out) const {
    if (!has(key)) return;
    if (!m_[key].is_array()) fail(key, "expected an array of numbers");
    out.clear();
    for (const auto& v : m_[key]) {
      if (!v.is_number()) fail(key, "expected an array of numbers");
      out.push_back(v.get<double>());
    }
  }
  void op_ids(const char* key, std::vector<OpId>& out) const {
    if (!has(key)) return;
    if (!m_[key].is_array()) fail(key, "expected an array of op ids \"rank/index\"");
    out.clear();
    for (const auto& v : m_[key]) {
      OpId id{-1, -1};
      char slash = 0;
      std::istringstream in(v.is_string() ? v.get<std::string>() : std::string());
      if (!(in >> id.rank >> slash >> id.index) || slash != '/')
        fail(key, fmt::format("{} is not an op id \"rank/index\"", v.dump()));
      out.push_back(id);
    }
  }

 private:
  const nlohmann::json& m_;
  const std::string& source_;
};

RunSettings read_run_settings(const nlohmann::json& m, const std::string& source, const std::string& engine, int ranks) {
  const MetadataReader r(m, source);
  RunSettings run;
  // A trace without a transport: a measured one is from the loopback (the only transport
  // before NCCL came); any other is simulated, on the scenario's own machine.
  run.transport = engine == "measured" ? RunTransport::loopback : RunTransport::scenario;
  if (r.has("transport")) {
    std::string t;
    r.text("transport", t);
    if (t == "loopback") run.transport = RunTransport::loopback;
    else if (t == "nccl") run.transport = RunTransport::nccl;
    else r.fail("transport", fmt::format("unknown transport '{}' (known: loopback, nccl)", t));
  }
  r.number("link_bandwidth_GBps", run.link_bandwidth_GBps);
  r.number("link_latency_us", run.link_latency_us);
  r.boolean("link_paced", run.link_paced);
  if (r.has("fifo_pairs")) {
    r.boolean("fifo_pairs", run.fifo_pairs);
  } else if (r.has("loopback_link_model") && m["loopback_link_model"].is_string()) {
    // Traces written before `fifo_pairs` existed (tests/data/h100-validation among them)
    // said it in prose: "one FIFO link per ordered rank pair, through pinned host memory".
    // That sentence is the only spelling there was; it means fifo_pairs = true.
    run.fifo_pairs = m["loopback_link_model"].get<std::string>().find("FIFO") != std::string::npos;
  }
  if (r.has("compute_placement")) {
    std::string p;
    r.text("compute_placement", p);
    if (p == "one_device_stream") run.placement = ComputePlacement::one_device_stream;
    else if (p == "per_rank_streams") run.placement = ComputePlacement::per_rank_streams;
    else r.fail("compute_placement", fmt::format("unknown placement '{}' (known: per_rank_streams, one_device_stream)", p));
  }
  r.op_ids("compute_order", run.compute_order);
  if (r.has("accumulator_bytes")) {
    int bytes = 0;
    r.integer("accumulator_bytes", bytes);
    run.accumulator_bytes = bytes;
  }
  run.ranks_per_device = ranks;
  r.integer("ranks_per_device", run.ranks_per_device);
  r.text("device", run.device);
  r.text("dtype", run.dtype);
  r.integer("processes", run.processes);
  r.text("launch", run.launch);
  r.text("launcher", run.launcher);
  r.text("time_origin", run.time_origin);
  r.integer("reps", run.reps);
  r.integer("warmup", run.warmup);
  r.text("reported_run", run.reported_run);
  r.numbers("makespans_s", run.makespans_s);
  r.number("compute_s", run.compute_s);
  r.number("exposed_comm_s", run.exposed_comm_s);
  r.texts("overrides", run.overrides, "KEY=VALUE");
  return run;
}

}  // namespace

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
  if (!m.contains("P") || !m["P"].is_number_integer() || !integer_in(m["P"], 1, std::numeric_limits<std::int64_t>::max()))
    bad(source, "metadata.P", "missing, or not a positive integer");
  const auto P = integer_in(m["P"], 1, limits::max_gpus);
  if (!P)
    bad(source, "metadata.P",
        fmt::format("{} ranks is beyond the largest cluster xattn accepts, {} (docs/limits.md)", m["P"].dump(), limits::max_gpus));
  out.ranks = static_cast<int>(*P);
  if (m.contains("makespan_us") && m["makespan_us"].is_number()) out.makespan_us = m["makespan_us"].get<double>();
  if (m.contains("link_shared") && m["link_shared"].is_boolean()) out.link_shared = m["link_shared"].get<bool>();
  if (m.contains("ranks_traced") && m["ranks_traced"].is_array()) {
    out.ranks_traced.emplace();
    for (const auto& r : m["ranks_traced"]) {
      const auto rank = integer_in(r, 0, limits::max_gpus - 1);
      if (!rank) bad(source, "metadata.ranks_traced", "expected an array of ranks, 0 to P - 1");
      out.ranks_traced->push_back(static_cast<int>(*rank));
    }
  }
  out.run = read_run_settings(m, source, out.engine, out.ranks);
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
  if (meta.ranks_traced && static_cast<int>(meta.ranks_traced->size()) < s.ranks())
    bad(source, "metadata.ranks_traced",
        fmt::format("the trace holds {} of the {} ranks (written with --ranks): a partial trace cannot be compared op by "
                    "op; write it with every rank",
                    meta.ranks_traced->size(), s.ranks()));
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
    if (ev.contains("pid") && integer_in(ev["pid"], rank, rank) != std::optional<std::int64_t>(rank))
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
    const Time dur = from_us(ev["dur"], source, at + ".dur");
    const Time waited = ev["args"].contains("waited_us") ? from_us(ev["args"]["waited_us"], source, at + ".args.waited_us") : Time();
    try {
      x.end = x.posted + dur;
      x.start = x.posted + waited;
    } catch (const ClockOverflow& over) {
      bad(source, at + ".dur", fmt::format("op {}: {}", id, over.what()));
    }
    if (x.start > x.end)
      bad(source, at + ".args.waited_us", fmt::format("op {} starts after it ends", id));
    try {
      if (op.kind() == OpKind::compute) t.compute_busy[static_cast<std::size_t>(rank)] += x.end - x.start;
    } catch (const ClockOverflow& over) {
      bad(source, at + ".dur", fmt::format("rank {}'s compute: {}", rank, over.what()));
    }
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
