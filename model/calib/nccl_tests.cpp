// nccl-tests output parser. The text format, as nccl-tests prints it (src/common.cu and
// src/util.cu of github.com/NVIDIA/nccl-tests): '#' comment lines with the run's
// parameters, a "Using devices" block with one "Rank r [Group g] Pid p on HOST device d
// [bus] GPU NAME" line per rank, a two- or three-line header (column names, then units),
// one data line per size, and a footer with "Avg bus bandwidth". Variants seen in real
// logs and handled here: MPI launchers prefixing every line with "[1,0]<stdout>:", the
// error column called "#wrong" or "error", with or without "redop" and "root" columns,
// "cputime" instead of "time", per-iteration columns (i_min, ...), a trailing timestamp,
// "N/A" values, and NCCL INFO lines interleaved.
#include "model/calib/nccl_tests.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "model/core/error.hpp"
#include "model/core/input_file.hpp"
#include "model/core/limits.hpp"

namespace xattn {
namespace {

std::vector<std::string_view> split_ws(std::string_view s) {
  std::vector<std::string_view> out;
  std::size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && std::isspace(static_cast<unsigned char>(s[i]))) ++i;
    std::size_t j = i;
    while (j < s.size() && !std::isspace(static_cast<unsigned char>(s[j]))) ++j;
    if (j > i) out.push_back(s.substr(i, j - i));
    i = j;
  }
  return out;
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

template <class T>
std::optional<T> to_integer(std::string_view s) {
  T v{};
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// A finite number (nccl-tests never prints inf; "N/A" and "nan" are read by the callers).
std::optional<double> to_double(std::string_view s) {
  double v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size() || !std::isfinite(v)) return std::nullopt;
  return v;
}

// nThread, nGpus and ranks: counts of GPUs, within the largest cluster (docs/limits.md).
std::optional<int> to_count(std::string_view s) {
  const auto v = to_integer<std::int64_t>(s);
  if (!v || *v < 1 || *v > limits::max_gpus) return std::nullopt;
  return static_cast<int>(*v);
}

// Removes a launcher's line prefix. Open MPI's --tag-output writes "[job,rank]<stdout>:";
// Slurm's --label writes "rank: ". Returns false for lines the launcher took from stderr.
bool strip_launcher_prefix(std::string_view& line) {
  if (!line.empty() && line.front() == '[') {
    auto close = line.find("]<");
    if (close != std::string_view::npos) {
      auto end = line.find(">:", close);
      if (end != std::string_view::npos) {
        std::string_view stream = line.substr(close + 2, end - close - 2);
        line.remove_prefix(end + 2);
        return stream != "stderr";
      }
    }
  }
  std::size_t i = 0;
  while (i < line.size() && std::isdigit(static_cast<unsigned char>(line[i]))) ++i;
  if (i > 0 && i + 1 < line.size() && line[i] == ':' && line[i + 1] == ' ') line.remove_prefix(i + 2);
  return true;
}

// Open MPI tags each write, not each line: a line written in two pieces carries a second
// "[job,rank]<stdout>:" where the second piece starts (the 128-GPU Echo log has
// "on node-[1,0]<stdout>:00000C device 4"). Removes such tags from `line` into `out`;
// false when there are none.
bool mend_split_write(std::string_view line, std::string& out) {
  constexpr std::string_view kTagEnd = "]<stdout>:";
  bool mended = false;
  out.clear();
  std::size_t from = 0;
  for (std::size_t open = line.find('['); open != std::string_view::npos; open = line.find('[', open + 1)) {
    const std::size_t close = line.find(kTagEnd, open);
    if (close == std::string_view::npos) break;
    const std::string_view tag = line.substr(open + 1, close - open - 1);
    if (tag.empty() || tag.find_first_not_of("0123456789,") != std::string_view::npos) continue;
    out.append(line.substr(from, open - from));
    from = close + kTagEnd.size();
    open = from - 1;
    mended = true;
  }
  if (mended) out.append(line.substr(from));
  return mended;
}

// Column positions, from the header row.
struct Columns {
  int size = -1, count = -1, type = -1;
  int time[2] = {-1, -1}, algbw[2] = {-1, -1}, busbw[2] = {-1, -1};  // out-of-place, in-place

  [[nodiscard]] int needed() const {  // tokens a data row must have
    int m = std::max({size, count, type});
    for (int k = 0; k < 2; ++k) m = std::max({m, time[k], algbw[k], busbw[k]});
    return m + 1;
  }
};

std::optional<Columns> read_header(const std::vector<std::string_view>& tokens) {
  Columns c;
  int times = 0, algs = 0, buses = 0;
  for (int i = 0; i < static_cast<int>(tokens.size()); ++i) {
    std::string_view t = tokens[i];
    if (t == "size") c.size = i;
    else if (t == "count") c.count = i;
    else if (t == "type") c.type = i;
    else if ((t == "time" || t == "cputime") && times < 2) c.time[times++] = i;
    else if (t == "algbw" && algs < 2) c.algbw[algs++] = i;
    else if (t == "busbw" && buses < 2) c.busbw[buses++] = i;
  }
  if (c.size < 0 || c.time[0] < 0) return std::nullopt;
  return c;
}

class TextParser {
 public:
  TextParser(std::string_view text, std::string source) : text_(text), source_(std::move(source)) {}

  NcclLog parse(std::optional<NcclCollective> op) {
    log_.source = source_;
    std::size_t pos = 0;
    int line_no = 0;
    int last_line = 0;
    std::string mended;
    while (pos <= text_.size()) {
      std::size_t nl = text_.find('\n', pos);
      std::string_view line = text_.substr(pos, nl == std::string_view::npos ? std::string_view::npos : nl - pos);
      pos = nl == std::string_view::npos ? text_.size() + 1 : nl + 1;
      ++line_no;
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!trim(line).empty()) last_line = line_no;
      if (!strip_launcher_prefix(line)) continue;
      if (mend_split_write(line, mended)) line = mended;
      take(line, line_no);
    }
    if (log_.devices.empty())
      throw InputError(Origin{source_, std::max(last_line, 1), 0}, "devices",
                       "no \"# Using devices\" block: is this nccl-tests output?");
    if (!columns_)
      throw InputError(Origin{source_, std::max(last_line, 1), 0}, "header",
                       "no header row naming the columns (size, count, type, ..., time, algbw, busbw)");
    if (in_table_ || !footer_seen_)
      throw InputError(Origin{source_, std::max(last_line, 1), 0}, "footer",
                       "the log ends before nccl-tests' footer (\"# Avg bus bandwidth\"): truncated?");
    if (log_.rows.empty())
      throw InputError(Origin{source_, std::max(last_line, 1), 0}, "rows", "the results table has no rows");
    check_ranks();
    log_.op = resolve_op(op);
    return std::move(log_);
  }

 private:
  std::string_view text_;
  std::string source_;
  NcclLog log_;
  std::optional<Columns> columns_;
  std::optional<NcclCollective> named_op_;
  bool in_devices_ = false;
  bool devices_done_ = false;
  bool in_table_ = false;
  bool footer_seen_ = false;

  [[noreturn]] void fail(int line, const std::string& field, const std::string& message) const {
    throw InputError(Origin{source_, line, 0}, field, message);
  }

  void take(std::string_view line, int line_no) {
    std::string_view t = trim(line);
    if (t.empty()) return;
    if (t.front() == '#') {
      comment(t.substr(1), line_no);
      return;
    }
    in_devices_ = false;
    auto tokens = split_ws(t);
    // A data row starts with an integer size; anything else (NCCL INFO lines, warnings) is
    // not ours to read.
    if (!to_integer<std::int64_t>(tokens.front())) return;
    if (!columns_ || !in_table_) {
      if (!columns_) return;  // numbers before any header: not a results table
      fail(line_no, "row", "a data row after the footer of its table");
    }
    row(tokens, line_no);
  }

  void comment(std::string_view body, int line_no) {
    std::string_view t = trim(body);
    auto tokens = split_ws(t);
    if (tokens.empty()) {
      if (in_devices_) {
        in_devices_ = false;
        devices_done_ = true;
      }
      return;
    }
    if (t.starts_with("Collective test starting:")) {
      named_op_ = collective_in_name(trim(t.substr(std::string_view("Collective test starting:").size())));
      return;
    }
    if (tokens[0] == "nThread") {
      for (std::size_t i = 0; i + 1 < tokens.size(); ++i) {
        if (tokens[i] == "nThread") log_.threads = to_count(tokens[i + 1]).value_or(1);
        if (tokens[i] == "nGpus") log_.gpus_per_thread = to_count(tokens[i + 1]).value_or(1);
      }
      return;
    }
    if (t == "Using devices") {
      if (devices_done_ || !log_.devices.empty())
        fail(line_no, "devices", "a second \"Using devices\" block: one nccl-tests run per file");
      in_devices_ = true;
      return;
    }
    if (in_devices_ && tokens[0] == "Rank") {
      device(tokens, line_no);
      return;
    }
    if (in_devices_) {
      in_devices_ = false;
      devices_done_ = true;
    }
    if (t.starts_with("Avg bus bandwidth")) {
      if (!columns_)
        fail(line_no, "header", "no header row naming the columns (size, count, type, ..., time, algbw, busbw) before the footer");
      if (!in_table_) fail(line_no, "footer", "a footer without a results table before it");
      auto colon = t.find(':');
      if (colon != std::string_view::npos) {
        auto v = split_ws(t.substr(colon + 1));
        if (!v.empty()) log_.avg_busbw_GBps = to_double(v[0]);
      }
      in_table_ = false;
      footer_seen_ = true;
      return;
    }
    if (auto cols = read_header(tokens)) {
      if (in_table_) fail(line_no, "header", "a second header inside one results table");
      columns_ = cols;
      in_table_ = true;
      footer_seen_ = false;
    }
  }

  // "Rank  0 Group  0 Pid  6899 on HOST device  0 [0000:04:00] NVIDIA H100 80GB HBM3";
  // older versions have no "Group".
  void device(const std::vector<std::string_view>& tk, int line_no) {
    NcclDevice d;
    std::size_t i = 0;
    auto expect = [&](std::string_view word) {
      if (i >= tk.size() || tk[i] != word)
        fail(line_no, "devices", fmt::format("expected '{}' in a \"Rank ...\" line of the device block", word));
      ++i;
    };
    auto integer = [&](const char* what) -> std::int64_t {
      if (i >= tk.size()) fail(line_no, "devices", fmt::format("the device line ends before its {}", what));
      auto v = to_integer<std::int64_t>(tk[i]);
      if (!v) fail(line_no, "devices", fmt::format("'{}' is not a {} number", tk[i], what));
      ++i;
      return *v;
    };
    expect("Rank");
    const std::int64_t rank = integer("rank");
    if (rank != static_cast<std::int64_t>(log_.devices.size()))
      fail(line_no, "devices", fmt::format("rank {} listed where rank {} was expected", rank, log_.devices.size()));
    if (rank >= limits::max_gpus)
      fail(line_no, "devices", fmt::format("more ranks than the largest cluster xattn accepts, {}", limits::max_gpus));
    d.rank = static_cast<int>(rank);
    if (i < tk.size() && tk[i] == "Group") {
      ++i;
      integer("group");
    }
    expect("Pid");
    d.pid = integer("pid");
    expect("on");
    if (i >= tk.size()) fail(line_no, "devices", "the device line ends before its host name");
    d.host = std::string(tk[i++]);
    expect("device");
    const std::int64_t device = integer("device");
    if (device < 0 || device > 2147483647) fail(line_no, "devices", fmt::format("'{}' is not a device number", device));
    d.device = static_cast<int>(device);
    if (i < tk.size() && tk[i].starts_with('[')) {
      while (i < tk.size() && !tk[i].ends_with(']')) ++i;
      ++i;
    }
    std::string gpu;
    for (; i < tk.size(); ++i) {
      if (!gpu.empty()) gpu += ' ';
      gpu += tk[i];
    }
    d.gpu = gpu;
    if (d.rank != static_cast<int>(log_.devices.size()))
      fail(line_no, "devices", fmt::format("rank {} listed where rank {} was expected", d.rank, log_.devices.size()));
    log_.devices.push_back(std::move(d));
  }

  std::optional<NcclMeasure> measure(const std::vector<std::string_view>& tk, int k, int line_no) {
    const Columns& c = *columns_;
    if (c.time[k] < 0) return std::nullopt;
    auto number = [&](int col, const char* name) -> std::optional<double> {
      if (col < 0) return std::nullopt;
      std::string_view s = tk[static_cast<std::size_t>(col)];
      if (s == "N/A" || s == "nan" || s == "-nan") return std::nullopt;
      auto v = to_double(s);
      if (!v || *v < 0) fail(line_no, name, fmt::format("'{}' is not a number (column {})", s, col + 1));
      return v;
    };
    auto time = number(c.time[k], k == 0 ? "out_of_place.time_us" : "in_place.time_us");
    if (!time) return std::nullopt;
    return NcclMeasure{microseconds(*time), number(c.algbw[k], "algbw_GBps"), number(c.busbw[k], "busbw_GBps")};
  }

  void row(const std::vector<std::string_view>& tk, int line_no) {
    const Columns& c = *columns_;
    if (static_cast<int>(tk.size()) < c.needed())
      fail(line_no, "row",
           fmt::format("a data row with {} values where the header names {}: truncated?", tk.size(), c.needed()));
    NcclRow r;
    r.line = line_no;
    auto size = to_integer<std::int64_t>(tk[static_cast<std::size_t>(c.size)]);
    if (!size || *size < 0) fail(line_no, "size", "the size must be a whole number of bytes");
    r.size = Bytes(static_cast<double>(*size));
    if (c.count >= 0) {
      auto count = to_integer<std::int64_t>(tk[static_cast<std::size_t>(c.count)]);
      if (!count || *count < 0) fail(line_no, "count", "the count must be a whole number of elements");
      r.count = *count;
    }
    if (c.type >= 0) r.type = std::string(tk[static_cast<std::size_t>(c.type)]);
    r.out_of_place = measure(tk, 0, line_no);
    r.in_place = measure(tk, 1, line_no);
    if (!r.out_of_place && !r.in_place) fail(line_no, "time_us", "a data row without any time");
    log_.rows.push_back(std::move(r));
  }

  void check_ranks() const {
    const std::int64_t expected = std::int64_t{log_.threads} * log_.gpus_per_thread;
    if (log_.processes() == 1 && expected > 0 && log_.ranks() != expected)
      fail(1, "devices",
           fmt::format("one process with nThread {} nGpus {} should list {} ranks, the device block lists {}",
                       log_.threads, log_.gpus_per_thread, expected, log_.ranks()));
  }

  NcclCollective resolve_op(std::optional<NcclCollective> op) const {
    if (op) return *op;
    if (named_op_) return *named_op_;
    if (auto o = collective_in_name(std::filesystem::path(source_).filename().string())) return *o;
    fail(1, "collective",
         "cannot tell which collective this log measured (no \"# Collective test starting\" line and the file "
         "name does not say): name it, e.g. --op all_reduce (known: " + collective_names() + ")");
  }
};

int line_of_offset(std::string_view text, std::size_t offset) {
  offset = std::min(offset, text.size());
  return 1 + static_cast<int>(std::count(text.begin(), text.begin() + static_cast<std::ptrdiff_t>(offset), '\n'));
}

NcclLog parse_json(std::string_view text, const std::string& source, std::optional<NcclCollective> op) {
  using nlohmann::json;
  json doc;
  try {
    doc = json::parse(text.begin(), text.end());
  } catch (const json::parse_error& e) {
    throw InputError(Origin{source, line_of_offset(text, e.byte > 0 ? e.byte - 1 : 0), 0}, "json",
                     fmt::format("malformed or truncated JSON: {}", e.what()));
  } catch (const json::exception& e) {  // a number beyond a double (1e999)
    throw InputError(Origin{source, 1, 0}, "json", fmt::format("not nccl-tests JSON xattn can read: {}", e.what()));
  }
  auto fail = [&](const std::string& field, const std::string& message) -> void {
    throw InputError(Origin{source, 1, 0}, field, message);
  };
  if (!doc.is_object()) fail("json", "nccl-tests JSON output is one object");
  NcclLog log;
  log.source = source;
  try {
    const json& config = doc.at("config");
    // A count from the JSON: an integer from 1 to the largest cluster (docs/limits.md).
    auto count = [&](const json& v, const std::string& field) {
      if (!v.is_number_integer() || v.get<std::int64_t>() < 1 || v.get<std::int64_t>() > limits::max_gpus ||
          (v.is_number_unsigned() && v.get<std::uint64_t>() > static_cast<std::uint64_t>(limits::max_gpus)))
        fail(field, fmt::format("expected a count from 1 to {}", limits::max_gpus));
      return static_cast<int>(v.get<std::int64_t>());
    };
    log.threads = config.contains("nthreads") ? count(config["nthreads"], "config.nthreads") : 1;
    log.gpus_per_thread = config.contains("ngpus") ? count(config["ngpus"], "config.ngpus") : 1;
    if (!config.contains("devices") || !config["devices"].is_array() || config["devices"].empty())
      fail("config.devices", "no devices listed");
    for (const auto& d : config["devices"]) {
      NcclDevice dev;
      const json& rank = d.at("rank");
      if (!rank.is_number_integer() || rank.get<std::int64_t>() != static_cast<std::int64_t>(log.devices.size()) ||
          (rank.is_number_unsigned() && rank.get<std::uint64_t>() != log.devices.size()))
        fail("config.devices", fmt::format("rank {} listed where rank {} was expected", rank.dump(), log.devices.size()));
      if (log.devices.size() >= static_cast<std::size_t>(limits::max_gpus))
        fail("config.devices", fmt::format("more ranks than the largest cluster xattn accepts, {}", limits::max_gpus));
      dev.rank = static_cast<int>(log.devices.size());
      dev.pid = d.at("pid").get<std::int64_t>();
      dev.host = d.at("hostname").get<std::string>();
      const json& device = d.at("device");
      if (!device.is_number_integer() || device.get<std::int64_t>() < 0 || device.get<std::int64_t>() > 2147483647 ||
          (device.is_number_unsigned() && device.get<std::uint64_t>() > 2147483647u))
        fail("config.devices", fmt::format("'{}' is not a device number", device.dump()));
      dev.device = static_cast<int>(device.get<std::int64_t>());
      dev.gpu = d.value("device_info", std::string());
      log.devices.push_back(std::move(dev));
    }
    if (!doc.contains("results") || !doc["results"].is_array()) fail("results", "no results list");
    int index = 0;
    for (const auto& r : doc["results"]) {
      NcclRow row;
      std::string where = fmt::format("results[{}]", index++);
      auto size = r.at("size").get<std::int64_t>();
      if (size < 0) fail(where + ".size", "must not be negative");
      row.size = Bytes(static_cast<double>(size));
      row.count = r.value("count", std::int64_t{0});
      row.type = r.value("type", std::string());
      for (int k = 0; k < 2; ++k) {
        const char* key = k == 0 ? "out_of_place" : "in_place";
        if (!r.contains(key) || r[key].is_null()) continue;
        const json& m = r[key];
        const json* t = m.contains("time") ? &m["time"] : m.contains("cpu_time") ? &m["cpu_time"] : nullptr;
        if (t == nullptr || !t->is_number()) continue;  // "nan" or absent
        if (t->get<double>() < 0) fail(where + "." + key + ".time", "must not be negative");
        auto number = [&](const char* k2) -> std::optional<double> {
          if (!m.contains(k2) || !m[k2].is_number()) return std::nullopt;
          return m[k2].get<double>();
        };
        NcclMeasure me{microseconds(t->get<double>()), number("alg_bw"), number("bus_bw")};
        (k == 0 ? row.out_of_place : row.in_place) = me;
      }
      if (!row.out_of_place && !row.in_place) fail(where, "a result without any time");
      log.rows.push_back(std::move(row));
    }
    if (log.rows.empty()) fail("results", "the results list is empty");
    if (doc.contains("average_bus_bandwidth") && doc["average_bus_bandwidth"].is_object()) {
      const json& a = doc["average_bus_bandwidth"];
      if (a.contains("bandwidth") && a["bandwidth"].is_number()) log.avg_busbw_GBps = a["bandwidth"].get<double>();
    }
    std::optional<NcclCollective> named;
    if (doc.contains("args") && doc["args"].is_array() && !doc["args"].empty() && doc["args"][0].is_string())
      named = collective_in_name(std::filesystem::path(doc["args"][0].get<std::string>()).filename().string());
    if (op) log.op = *op;
    else if (named) log.op = *named;
    else if (auto o = collective_in_name(std::filesystem::path(source).filename().string())) log.op = *o;
    else fail("args", "cannot tell which collective this log measured: name it, e.g. --op all_reduce");
  } catch (const json::exception& e) {
    throw InputError(Origin{source, 1, 0}, "json", fmt::format("unexpected nccl-tests JSON layout: {}", e.what()));
  }
  return log;
}

}  // namespace

int NcclLog::nodes() const {
  std::set<std::string> hosts;
  for (const auto& d : devices) hosts.insert(d.host);
  return std::max<int>(1, static_cast<int>(hosts.size()));
}

int NcclLog::gpus_per_node() const { return std::max(1, ranks() / nodes()); }

int NcclLog::processes() const {
  std::set<std::pair<std::string, std::int64_t>> procs;
  for (const auto& d : devices) procs.insert({d.host, d.pid});
  return static_cast<int>(procs.size());
}

std::string NcclLog::gpu() const { return devices.empty() ? std::string() : devices.front().gpu; }

NcclLog parse_nccl_tests(std::string_view text, const std::string& source, std::optional<NcclCollective> op) {
  std::string_view t = trim(text);
  if (t.empty()) throw InputError(Origin{source, 1, 0}, "", "the file is empty");
  if (t.front() == '{') return parse_json(text, source, op);
  return TextParser(text, source).parse(op);
}

NcclLog read_nccl_tests_file(const std::string& path, std::optional<NcclCollective> op) {
  return parse_nccl_tests(read_input_file(path, "log"), path, op);
}

}  // namespace xattn
