// Reading and classifying PyTorch profiler (Kineto) traces: docs/kineto.md §1-§5 describe
// the format as read, the classification rules and how a step is split into phases.
#include "model/calib/kineto.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <functional>
#include <istream>
#include <map>
#include <set>
#include <streambuf>
#include <unordered_map>
#include <unordered_set>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <zlib.h>

#include "model/collective_model.hpp"
#include "model/core/error.hpp"

namespace xattn {
namespace {

using json = nlohmann::json;

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool has(std::string_view s, std::string_view part) { return s.find(part) != std::string_view::npos; }

// ---- the byte stream: zlib reads plain and gzip files alike -----------------------------

// A streambuf over gzread that knows the line it is at (for errors) and why it stopped.
class GzLineBuf : public std::streambuf {
 public:
  explicit GzLineBuf(gzFile f) : f_(f) {}
  // The 1-based line of the next character to be read.
  int line() {
    count_to(gptr());
    return static_cast<int>(lines_) + 1;
  }
  [[nodiscard]] const std::string& error() const { return error_; }

 protected:
  int_type underflow() override {
    if (gptr() < egptr()) return traits_type::to_int_type(*gptr());
    count_to(egptr());
    const int n = gzread(f_, buf_, sizeof buf_);
    if (n < 0) {
      int code = 0;
      const char* why = gzerror(f_, &code);
      error_ = why != nullptr ? why : "read error";
      return traits_type::eof();
    }
    if (n == 0) return traits_type::eof();
    setg(buf_, buf_, buf_ + n);
    scan_ = buf_;
    return traits_type::to_int_type(*gptr());
  }

 private:
  void count_to(const char* p) {
    if (scan_ != nullptr && p != nullptr && p > scan_) lines_ += static_cast<std::size_t>(std::count(scan_, p, '\n'));
    scan_ = p;
  }
  gzFile f_;
  char buf_[1 << 16];
  const char* scan_ = nullptr;
  std::size_t lines_ = 0;
  std::string error_;
};

// ---- the SAX reader: one small DOM per trace event ----------------------------------------

// Metadata kept from the top level of the file.
struct TopLevel {
  json distributed;  // distributedInfo
  json devices;      // deviceProperties (Kineto) or computeProperties (older Kineto)
  bool has_events = false;
};

using EventFn = std::function<void(const json& event, std::size_t index, int line)>;

class TraceSax : public nlohmann::json_sax<json> {
 public:
  TraceSax(GzLineBuf& buf, EventFn fn, TopLevel& top) : buf_(buf), fn_(std::move(fn)), top_(top) {}

  bool null() override { return put(json(nullptr)); }
  bool boolean(bool v) override { return put(json(v)); }
  bool number_integer(number_integer_t v) override { return put(json(v)); }
  bool number_unsigned(number_unsigned_t v) override { return put(json(v)); }
  bool number_float(number_float_t v, const string_t&) override { return put(json(v)); }
  bool string(string_t& v) override { return put(json(std::move(v))); }
  bool binary(binary_t&) override { return put(json(nullptr)); }

  bool start_object(std::size_t) override { return open(json::object(), false); }
  bool start_array(std::size_t) override { return open(json::array(), true); }
  bool end_object() override { return close(); }
  bool end_array() override { return close(); }
  bool key(string_t& k) override {
    frames_.back().key = k;
    return true;
  }

  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception& ex) override {
    failed_ = true;
    line_ = buf_.line();
    path_ = path();
    message_ = buf_.error().empty() ? std::string(ex.what()) : "truncated or corrupt gzip stream (" + buf_.error() + ")";
    // nlohmann's messages name its own byte count; keep the part after the position.
    if (const auto at = message_.find(": syntax error"); at != std::string::npos) message_ = message_.substr(at + 2);
    return false;
  }

  [[nodiscard]] bool failed() const { return failed_; }
  [[nodiscard]] int line() const { return line_; }
  [[nodiscard]] const std::string& error_path() const { return path_; }
  [[nodiscard]] const std::string& message() const { return message_; }

 private:
  struct Frame {
    bool array = false;
    std::string key;
    std::size_t index = 0;
  };

  // Where the next value goes: the events array's elements are built and handed over; the
  // top-level metadata keys are built and kept; everything else is only checked.
  enum class Target { none, event, meta };

  [[nodiscard]] bool at_events() const {
    // {"traceEvents": [ HERE ]} or a bare array of events [ HERE ].
    if (frames_.size() == 1) return frames_[0].array;
    return frames_.size() == 2 && frames_[1].array && !frames_[0].array && frames_[0].key == "traceEvents";
  }
  [[nodiscard]] json* meta_slot() {
    if (frames_.size() != 1 || frames_[0].array) return nullptr;
    const std::string& k = frames_[0].key;
    if (k == "distributedInfo") return &top_.distributed;
    if (k == "deviceProperties" || (k == "computeProperties" && top_.devices.is_null())) return &top_.devices;
    return nullptr;
  }

  void advance() {
    if (!frames_.empty() && frames_.back().array) ++frames_.back().index;
  }

  bool put(json&& v) {
    if (!build_.empty()) {
      json* top = build_.back();
      if (top->is_object()) (*top)[frames_.back().key] = std::move(v);
      else top->push_back(std::move(v));
    } else if (json* slot = meta_slot()) {
      *slot = std::move(v);
    }
    advance();
    return true;
  }

  bool open(json&& v, bool array) {
    if (!build_.empty()) {
      json* top = build_.back();
      json* child = nullptr;
      if (top->is_object()) {
        child = &((*top)[frames_.back().key] = std::move(v));
      } else {
        top->push_back(std::move(v));
        child = &top->back();
      }
      build_.push_back(child);
    } else if (at_events()) {
      if (frames_.size() == 2 || frames_[0].array) top_.has_events = true;
      event_ = std::move(v);
      event_line_ = buf_.line();
      event_index_ = frames_.back().index;
      build_.push_back(&event_);
      target_ = Target::event;
    } else if (json* slot = meta_slot()) {
      *slot = std::move(v);
      build_.push_back(slot);
      target_ = Target::meta;
    } else if (frames_.size() == 1 && !frames_[0].array && frames_[0].key == "traceEvents" && array) {
      top_.has_events = true;
    }
    frames_.push_back(Frame{array, {}, 0});
    return true;
  }

  bool close() {
    frames_.pop_back();
    if (!build_.empty()) {
      build_.pop_back();
      if (build_.empty() && target_ == Target::event) {
        fn_(event_, event_index_, event_line_);
        event_ = json();
        target_ = Target::none;
      } else if (build_.empty()) {
        target_ = Target::none;
      }
    }
    advance();
    return true;
  }

  [[nodiscard]] std::string path() const {
    std::string p;
    for (std::size_t i = 0; i < frames_.size(); ++i) {
      const Frame& f = frames_[i];
      if (f.array) {
        p += fmt::format("[{}]", f.index);
      } else if (!f.key.empty()) {
        if (!p.empty()) p += '.';
        p += f.key;
      }
    }
    return p;
  }

  GzLineBuf& buf_;
  EventFn fn_;
  TopLevel& top_;
  std::vector<Frame> frames_;
  std::vector<json*> build_;
  Target target_ = Target::none;
  json event_;
  std::size_t event_index_ = 0;
  int event_line_ = 0;
  bool failed_ = false;
  int line_ = 0;
  std::string path_, message_;
};

// Streams every event of the file through `fn`; throws InputError for an unreadable file
// or malformed JSON (file, line, JSON path) and for a file that is not a Chrome trace.
TopLevel stream_trace(const std::string& path, const EventFn& fn) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr) throw InputError(Origin{path, 0, 0}, "", "cannot open the trace");
  gzbuffer(f, 1 << 17);
  TopLevel top;
  GzLineBuf buf(f);
  std::istream in(&buf);
  TraceSax sax(buf, fn, top);
  bool ok = false;
  try {
    ok = json::sax_parse(in, &sax, json::input_format_t::json, true);
  } catch (...) {
    gzclose(f);
    throw;
  }
  gzclose(f);
  if (!ok || sax.failed()) {
    std::string where = sax.error_path().empty() ? "(top level)" : sax.error_path();
    throw InputError(Origin{path, sax.line(), 0}, where, "malformed trace JSON: " + sax.message());
  }
  if (!top.has_events) throw InputError(Origin{path, 1, 0}, "traceEvents", "not a Chrome trace: no traceEvents array");
  return top;
}

// ---- reading one event's fields ----------------------------------------------------------

const json* arg(const json& args, std::initializer_list<const char*> keys) {
  if (!args.is_object()) return nullptr;
  for (const char* k : keys) {
    auto it = args.find(k);
    if (it != args.end() && !it->is_null()) return &*it;
  }
  return nullptr;
}

std::optional<double> number_of(const json* v) {
  if (v == nullptr) return std::nullopt;
  if (v->is_number()) return v->get<double>();
  if (v->is_string()) {  // some writers quote numbers
    try {
      std::size_t used = 0;
      const std::string& s = v->get_ref<const std::string&>();
      double d = std::stod(s, &used);
      if (used == s.size()) return d;
    } catch (...) {
    }
  }
  return std::nullopt;
}

std::optional<std::int64_t> int_of(const json* v) {
  auto d = number_of(v);
  if (!d || !std::isfinite(*d)) return std::nullopt;
  return static_cast<std::int64_t>(std::llround(*d));
}

std::string string_of(const json& e, const char* key) {
  auto it = e.find(key);
  if (it == e.end()) return {};
  if (it->is_string()) return it->get<std::string>();
  if (it->is_number_integer()) return std::to_string(it->get<std::int64_t>());
  if (it->is_number()) return fmt::format("{}", it->get<double>());
  return {};
}

// The event's category, lower case, as this reader sorts them.
enum class Cat { kernel, memcpy, memset, runtime, cpu, other };

Cat category(const json& e) {
  const std::string c = lower(string_of(e, "cat"));
  if (c == "kernel") return Cat::kernel;
  if (c == "gpu_memcpy" || c == "memcpy") return Cat::memcpy;
  if (c == "gpu_memset" || c == "memset") return Cat::memset;
  if (c == "cuda_runtime" || c == "runtime" || c == "cuda_driver") return Cat::runtime;
  if (c == "cpu_op" || c == "operator" || c == "user_annotation") return Cat::cpu;
  return Cat::other;
}

// ---- classification ---------------------------------------------------------------------

bool is_backward_node(std::string_view name) {
  if (name.rfind("autograd::engine::evaluate_function:", 0) == 0) return true;
  if (name == "torch::autograd::AccumulateGrad") return true;
  // Older traces name the autograd node itself: MmBackward, AddBackward1, MmBackward0.
  std::size_t end = name.size();
  while (end > 0 && std::isdigit(static_cast<unsigned char>(name[end - 1]))) --end;
  const std::string_view stem = name.substr(0, end);
  return stem.size() > 8 && stem.ends_with("Backward") && name.find("::") == std::string_view::npos;
}

std::optional<NcclCollective> collective_from_metadata(std::string_view name) {
  const std::string n = lower(name);
  if (n == "send" || n == "recv" || n == "sendrecv" || n == "recvanysource") return NcclCollective::sendrecv;
  if (n == "barrier") return std::nullopt;
  return collective_in_name(n);
}

// ---- shapes from the launching CPU op -------------------------------------------------------

int element_bytes(std::string_view type) {
  const std::string t = lower(type);
  if (has(t, "bfloat16") || has(t, "half") || t == "short int" || t == "short") return 2;
  if (has(t, "float8") || t == "bool" || t == "unsigned char" || t == "signed char" || t == "char") return 1;
  if (t == "double" || t == "long int" || t == "long" || t == "int64" || has(t, "complexfloat")) return 8;
  if (t == "float" || t == "int" || t == "unsigned int") return 4;
  return 0;  // Scalar, ScalarList, GenericList, "": not a tensor
}

std::optional<DType> dtype_of(std::string_view type) {
  const std::string t = lower(type);
  if (has(t, "bfloat16")) return DType::bf16;
  if (has(t, "half")) return DType::fp16;
  if (t == "float") return DType::fp32;
  return std::nullopt;
}

std::vector<std::int64_t> dims_of(const json& d) {
  std::vector<std::int64_t> out;
  if (!d.is_array()) return out;
  for (const auto& x : d) {
    if (!x.is_number()) return {};
    out.push_back(x.get<std::int64_t>());
  }
  return out;
}

double elements(const json& d) {
  if (!d.is_array()) return 0;
  if (!d.empty() && d.front().is_array()) {  // a tensor list
    double s = 0;
    for (const auto& t : d) s += elements(t);
    return s;
  }
  double n = 1;
  for (const auto& x : d) {
    if (!x.is_number()) return 0;
    n *= x.get<double>();
  }
  return n;
}

// "True" / "False" among the op's recorded scalar arguments.
std::optional<bool> concrete_bool(const json& args, std::size_t index) {
  const json* c = arg(args, {"Concrete Inputs"});
  if (c == nullptr || !c->is_array() || index >= c->size() || !(*c)[index].is_string()) return std::nullopt;
  const std::string v = lower((*c)[index].get<std::string>());
  if (v == "true" || v == "1") return true;
  if (v == "false" || v == "0") return false;
  return std::nullopt;
}

struct AttentionOpSpec {
  const char* name;
  BlockPass pass;
  int q, k;        // positions of the query and key inputs
  bool bshd;       // (batch, seq, heads, dim) rather than (batch, heads, seq, dim)
  int causal;      // position of is_causal among the Concrete Inputs (-1: none)
};

// The attention ops whose shapes give an attention kernel's work (PyTorch's
// native_functions.yaml and the flash-attn package's torch ops).
constexpr AttentionOpSpec kAttentionOps[] = {
    {"aten::_scaled_dot_product_flash_attention", BlockPass::fwd, 0, 1, false, 4},
    {"aten::_scaled_dot_product_efficient_attention", BlockPass::fwd, 0, 1, false, 6},
    {"aten::_scaled_dot_product_cudnn_attention", BlockPass::fwd, 0, 1, false, 6},
    {"aten::_scaled_dot_product_flash_attention_backward", BlockPass::bwd, 1, 2, false, 11},
    {"aten::_scaled_dot_product_efficient_attention_backward", BlockPass::bwd, 1, 2, false, 11},
    {"aten::_scaled_dot_product_cudnn_attention_backward", BlockPass::bwd, 1, 2, false, 14},
    {"aten::_flash_attention_forward", BlockPass::fwd, 0, 1, true, 8},
    {"aten::_flash_attention_backward", BlockPass::bwd, 1, 2, true, 11},
    {"aten::_efficient_attention_forward", BlockPass::fwd, 0, 1, true, -1},
    {"aten::_efficient_attention_backward", BlockPass::bwd, 1, 2, true, -1},
    {"flash_attn::_flash_attn_forward", BlockPass::fwd, 0, 1, true, 5},
    {"flash_attn::_flash_attn_backward", BlockPass::bwd, 1, 2, true, 11},
    {"flash_attn::_flash_attn_varlen_forward", BlockPass::fwd, 0, 1, true, -1},
    {"flash_attn::_flash_attn_varlen_backward", BlockPass::bwd, 1, 2, true, -1},
};

std::optional<AttentionCall> attention_of(std::string_view name, const json& args) {
  const json* dims = arg(args, {"Input Dims"});
  if (dims == nullptr || !dims->is_array()) return std::nullopt;
  for (const auto& s : kAttentionOps) {
    if (name != s.name) continue;
    if (dims->size() <= static_cast<std::size_t>(std::max(s.q, s.k))) return std::nullopt;
    auto q = dims_of((*dims)[static_cast<std::size_t>(s.q)]);
    auto k = dims_of((*dims)[static_cast<std::size_t>(s.k)]);
    if (q.size() != 4 || k.size() != 4) return std::nullopt;  // varlen (3-d) packs sequences: unknown lengths
    AttentionCall c;
    c.pass = s.pass;
    c.batch = q[0];
    c.head_dim = q[3];
    c.heads = s.bshd ? q[2] : q[1];
    c.q_rows = s.bshd ? q[1] : q[2];
    c.kv_heads = s.bshd ? k[2] : k[1];
    c.kv_rows = s.bshd ? k[1] : k[2];
    if (s.causal >= 0) {
      if (auto b = concrete_bool(args, static_cast<std::size_t>(s.causal))) {
        c.causal = *b;
        c.causal_known = true;
      }
    }
    return c;
  }
  return std::nullopt;
}

std::optional<GemmShape> gemm_of(std::string_view name, const json& args) {
  const json* dims = arg(args, {"Input Dims"});
  if (dims == nullptr || !dims->is_array()) return std::nullopt;
  auto at = [&](std::size_t i) { return i < dims->size() ? dims_of((*dims)[i]) : std::vector<std::int64_t>{}; };
  GemmShape g;
  if (name == "aten::mm" || name == "aten::_scaled_mm") {
    auto a = at(0), b = at(1);
    if (a.size() != 2 || b.size() != 2) return std::nullopt;
    g.m = a[0], g.k = a[1], g.n = b[1];
  } else if (name == "aten::addmm" || name == "aten::_addmm_activation") {
    auto a = at(1), b = at(2);
    if (a.size() != 2 || b.size() != 2) return std::nullopt;
    g.m = a[0], g.k = a[1], g.n = b[1];
  } else if (name == "aten::bmm") {
    auto a = at(0), b = at(1);
    if (a.size() != 3 || b.size() != 3) return std::nullopt;
    g.batch = a[0], g.m = a[1], g.k = a[2], g.n = b[2];
  } else if (name == "aten::baddbmm") {
    auto a = at(1), b = at(2);
    if (a.size() != 3 || b.size() != 3) return std::nullopt;
    g.batch = a[0], g.m = a[1], g.k = a[2], g.n = b[2];
  } else if (name == "aten::linear") {
    auto x = at(0), w = at(1);
    if (x.empty() || w.size() != 2) return std::nullopt;
    g.m = 1;
    for (std::size_t i = 0; i + 1 < x.size(); ++i) g.m *= x[i];
    g.k = x.back(), g.n = w[0];
  } else if (name == "aten::matmul") {
    auto a = at(0), b = at(1);
    if (a.size() < 2 || b.size() != 2) return std::nullopt;
    g.m = 1;
    for (std::size_t i = 0; i + 1 < a.size(); ++i) g.m *= a[i];
    g.k = a.back(), g.n = b[1];
  } else {
    return std::nullopt;
  }
  if (g.m <= 0 || g.k <= 0 || g.n <= 0 || g.batch <= 0) return std::nullopt;
  return g;
}

// Bytes an elementwise op moves: its tensor inputs read and one output the size of the
// largest written (docs/kineto.md §2: an estimate from the recorded shapes).
double bytes_of(const json& args) {
  const json* dims = arg(args, {"Input Dims"});
  const json* types = arg(args, {"Input type"});
  if (dims == nullptr || types == nullptr || !dims->is_array() || !types->is_array()) return 0;
  double total = 0, largest = 0;
  for (std::size_t i = 0; i < dims->size() && i < types->size(); ++i) {
    if (!(*types)[i].is_string()) continue;
    const int b = element_bytes((*types)[i].get<std::string>());
    if (b == 0) continue;
    const double n = elements((*dims)[i]) * b;
    total += n;
    largest = std::max(largest, n);
  }
  return total + largest;
}

std::optional<DType> op_dtype(const json& args) {
  const json* types = arg(args, {"Input type"});
  if (types == nullptr || !types->is_array()) return std::nullopt;
  for (const auto& t : *types)
    if (t.is_string())
      if (auto d = dtype_of(t.get<std::string>())) return d;
  return std::nullopt;
}

double dtype_bytes(std::string_view name) {
  const std::string n = lower(name);
  if (n == "float" || n == "float32" || n == "int" || n == "int32") return 4;
  if (n == "bfloat16" || n == "half" || n == "float16" || n == "short") return 2;
  if (n == "double" || n == "long" || n == "int64") return 8;
  if (n == "byte" || n == "char" || n == "bool" || has(n, "float8") || n == "uint8" || n == "int8") return 1;
  return 0;
}

// The collective metadata in an event's args (a kernel's or a record_param_comms op's).
std::optional<CollectiveCall> collective_of(const json& args) {
  const json* name = arg(args, {"Collective name"});
  if (name == nullptr || !name->is_string()) return std::nullopt;
  auto op = collective_from_metadata(name->get<std::string>());
  if (!op) return std::nullopt;
  CollectiveCall c;
  c.op = *op;
  const json* dt = arg(args, {"dtype"});
  c.dtype = dt != nullptr && dt->is_string() ? dt->get<std::string>() : std::string();
  const double b = dtype_bytes(c.dtype);
  const double in = number_of(arg(args, {"In msg nelems", "In msg size"})).value_or(0);
  const double out = number_of(arg(args, {"Out msg nelems", "Out msg size"})).value_or(0);
  c.size_bytes = std::max(in, out) * b;
  c.group = static_cast<int>(int_of(arg(args, {"Group size"})).value_or(0));
  if (const json* pg = arg(args, {"Process Group Name", "Process Group Description"}); pg != nullptr && pg->is_string())
    c.process_group = pg->get<std::string>();
  return c;
}

// ---- intervals ----------------------------------------------------------------------------

struct Span {
  double a = 0, b = 0;
};

double union_length(std::vector<Span>& s) {
  if (s.empty()) return 0;
  std::sort(s.begin(), s.end(), [](const Span& x, const Span& y) { return x.a < y.a; });
  double total = 0, a = s[0].a, b = s[0].b;
  for (std::size_t i = 1; i < s.size(); ++i) {
    if (s[i].a > b) {
      total += b - a;
      a = s[i].a;
      b = s[i].b;
    } else {
      b = std::max(b, s[i].b);
    }
  }
  return total + (b - a);
}

double median(std::vector<double> v) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const std::size_t n = v.size();
  return n % 2 == 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

// ---- the two passes -------------------------------------------------------------------------

struct Launch {
  std::int32_t thread = -1;
  double ts_us = 0;
  std::int64_t external_id = 0;
};

struct CpuSpan {
  std::int32_t thread = -1;
  double ts_us = 0, end_us = 0;
};

struct PassOne {
  std::unordered_map<std::string, std::int32_t> threads;  // "pid/tid" -> index
  std::vector<char> thread_backward, thread_steps;         // per thread: has autograd nodes, has ProfilerStep
  std::unordered_map<std::int64_t, Launch> launches;       // by correlation id
  std::vector<CpuSpan> backward_nodes;                     // autograd nodes, only kept for the fallback
  std::vector<CpuSpan> optimizer;                          // Optimizer.step# / Optimizer.zero_grad#
  std::vector<std::int64_t> kernel_device;
  std::vector<std::int64_t> kernel_correlation;
  std::unordered_map<std::string, std::uint32_t> name_index;
};

std::int32_t thread_of(PassOne& p, const json& e) {
  const std::string key = string_of(e, "pid") + "/" + string_of(e, "tid");
  auto [it, fresh] = p.threads.emplace(key, static_cast<std::int32_t>(p.threads.size()));
  if (fresh) {
    p.thread_backward.push_back(0);
    p.thread_steps.push_back(0);
  }
  return it->second;
}

std::string device_name(const json& devices, std::int64_t device) {
  if (!devices.is_array()) return {};
  for (const auto& d : devices)
    if (d.is_object() && int_of(arg(d, {"id"})).value_or(-1) == device) {
      const json* n = arg(d, {"name"});
      if (n != nullptr && n->is_string()) return n->get<std::string>();
    }
  return {};
}

}  // namespace

// ---- public: names ----------------------------------------------------------------------------

std::string_view to_string(KernelClass c) {
  switch (c) {
    case KernelClass::gemm: return "gemm";
    case KernelClass::attention: return "attention";
    case KernelClass::nccl: return "nccl";
    case KernelClass::elementwise: return "elementwise";
    case KernelClass::other: return "other";
  }
  return "other";
}

std::string_view to_string(StepPhase p) {
  switch (p) {
    case StepPhase::forward: return "forward";
    case StepPhase::backward: return "backward";
    case StepPhase::optimizer: return "optimizer";
  }
  return "forward";
}

KernelName classify_kernel(std::string_view raw) {
  const std::string n = lower(raw);
  KernelName k;
  // NCCL: ncclKernel_AllReduce_RING_LL_Sum_float (NCCL <= 2.18), ncclDevKernel_AllGather_RING_LL
  // (2.19 and later), ncclDevKernel_SendRecv.
  if (n.rfind("nccl", 0) == 0 || has(n, "ncclkernel") || has(n, "nccldevkernel")) {
    k.cls = KernelClass::nccl;
    if (has(n, "sendrecv") || has(n, "_send") || has(n, "_recv")) k.collective = NcclCollective::sendrecv;
    else k.collective = collective_in_name(n);
    for (const char* a : {"ring", "tree", "collnet", "nvls", "pat"})
      if (has(n, std::string("_") + a)) k.algorithm = a;
    if (has(n, "_ll128")) k.protocol = "ll128";
    else if (has(n, "_ll")) k.protocol = "ll";
    else if (has(n, "_simple")) k.protocol = "simple";
    std::transform(k.algorithm.begin(), k.algorithm.end(), k.algorithm.begin(), ::toupper);
    return k;
  }
  // Attention: FlashAttention-2 (flash_fwd_kernel, flash_bwd_*), FlashAttention-3
  // (flash::FlashAttnFwdSm90, FlashAttnBwdSm90), cuDNN's SDPA (cudnn_generated_fort_native_sdpa_*,
  // *_fprop_* / *_bprop_*), PyTorch's memory-efficient kernels (fmha_cutlassF / fmha_cutlassB).
  const bool cudnn_sdpa = has(n, "cudnn") && (has(n, "sdpa") || has(n, "mha") || has(n, "attention"));
  if (has(n, "flash") || has(n, "fmha") || cudnn_sdpa || has(n, "attention") || has(n, "_sdpa")) {
    k.cls = KernelClass::attention;
    if (has(n, "sm90") && has(n, "flash")) k.family = KernelFamily::flash_attention_3;
    else if (has(n, "flash_fwd") || has(n, "flash_bwd")) k.family = KernelFamily::flash_attention_2;
    else if (cudnn_sdpa || has(n, "cudnn")) k.family = KernelFamily::cudnn;
    if (has(n, "bwd") || has(n, "backward") || has(n, "bprop") || has(n, "cutlassb") || has(n, "dgrad"))
      k.pass = BlockPass::bwd;
    else if (has(n, "fwd") || has(n, "forward") || has(n, "fprop") || has(n, "cutlassf"))
      k.pass = BlockPass::fwd;
    return k;
  }
  // Optimizer kernels: PyTorch's multi-tensor apply (foreach and fused Adam/AdamW/SGD), Apex's.
  // ("lamb" alone would match the "{lambda()#1}" in PyTorch's kernel names.)
  if (has(n, "multi_tensor_apply") || has(n, "fusedadam") || has(n, "fused_adam") || has(n, "adam_") ||
      has(n, "adamw") || has(n, "lamb_")) {
    k.cls = KernelClass::elementwise;
    k.optimizer = true;
    return k;
  }
  // GEMMs: cuBLAS (volta_sgemm_*, ampere_*gemm*, gemmSN_*, gemv), cuBLASLt (sm80_xmma_gemm_*,
  // sm90_xmma_*, nvjet_*, its split-K reduce), CUTLASS (cutlass_*gemm*, cutlass::Kernel), and
  // Triton GEMM templates (triton_tem_fused_mm*).
  if (has(n, "gemm") || has(n, "gemv") || has(n, "cublas") || has(n, "cutlass") || has(n, "nvjet") ||
      has(n, "xmma") || (n.rfind("triton_tem", 0) == 0 && has(n, "mm"))) {
    k.cls = KernelClass::gemm;
    return k;
  }
  // Memory-bound kernels: PyTorch's elementwise, reduction, normalisation, copy and index
  // kernels (the at::native namespace), Triton's pointwise and reduction kernels, Apex's norms.
  if (has(n, "at::native::") || n.rfind("triton_", 0) == 0 || has(n, "elementwise") || has(n, "reduce_kernel") ||
      has(n, "layer_norm") || has(n, "layernorm") || has(n, "rms_norm") || has(n, "rmsnorm") || has(n, "softmax") ||
      has(n, "catarraybatchedcopy")) {
    k.cls = KernelClass::elementwise;
    return k;
  }
  return k;
}

double AttentionCall::pairs() const {
  const double q = static_cast<double>(q_rows), kv = static_cast<double>(kv_rows);
  if (!causal) return q * kv;
  // FlashAttention aligns the causal mask to the bottom right: query i of q sees keys up to
  // i + kv - q.
  if (q <= kv) return q * kv - q * (q - 1) / 2;
  return kv * (kv + 1) / 2;
}

double AttentionCall::flops() const {
  const double fwd = 4.0 * static_cast<double>(batch) * static_cast<double>(heads) * static_cast<double>(head_dim) * pairs();
  return pass == BlockPass::fwd ? fwd : 2.5 * fwd;
}

// ---- public: reading ---------------------------------------------------------------------------

KinetoTrace read_kineto_trace(const std::string& path, const KinetoReadOptions& options) {
  KinetoTrace t;
  t.source = path;
  PassOne p;
  std::vector<Problem> problems;
  auto bad = [&](int line, std::size_t index, const char* field, std::string why) {
    if (problems.size() < 20) problems.push_back({Origin{path, line, 0}, fmt::format("traceEvents[{}].{}", index, field), std::move(why)});
  };

  // Pass 1: kernels, launches, steps, the optimizer's and autograd's time.
  TopLevel top = stream_trace(path, [&](const json& e, std::size_t index, int line) {
    if (!e.is_object()) return;
    const std::string ph = string_of(e, "ph");
    if (ph != "X") return;
    const Cat cat = category(e);
    if (cat == Cat::other) return;
    const json empty = json::object();
    const json& args = e.contains("args") && e["args"].is_object() ? e["args"] : empty;
    const auto ts = number_of(e.contains("ts") ? &e["ts"] : nullptr);
    const auto dur = number_of(e.contains("dur") ? &e["dur"] : nullptr);
    if (!ts) {
      bad(line, index, "ts", "a complete event (ph X) needs a numeric ts (microseconds)");
      return;
    }
    if (!dur || *dur < 0) {
      bad(line, index, "dur", "a complete event (ph X) needs a numeric, non-negative dur (microseconds)");
      return;
    }
    const std::string name = string_of(e, "name");
    switch (cat) {
      case Cat::kernel: {
        if (name.empty()) {
          bad(line, index, "name", "a kernel event needs its kernel's name");
          return;
        }
        auto [it, fresh] = p.name_index.emplace(name, static_cast<std::uint32_t>(t.names.size()));
        if (fresh) {
          t.names.push_back(name);
          t.name_class.push_back(classify_kernel(name));
        }
        KinetoKernel k;
        k.name = it->second;
        k.cls = t.name_class[it->second].cls;
        k.ts_us = *ts;
        k.dur_us = *dur;
        k.stream = int_of(arg(args, {"stream"})).value_or(int_of(e.contains("tid") ? &e["tid"] : nullptr).value_or(0));
        k.external_id = int_of(arg(args, {"External id", "external id"})).value_or(0);
        if (k.cls == KernelClass::nccl) {
          if (auto c = collective_of(args)) {
            k.collective = static_cast<std::int32_t>(t.collectives.size());
            t.collectives.push_back(*c);
          }
        }
        t.kernels.push_back(k);
        p.kernel_device.push_back(int_of(arg(args, {"device"})).value_or(int_of(e.contains("pid") ? &e["pid"] : nullptr).value_or(0)));
        p.kernel_correlation.push_back(int_of(arg(args, {"correlation"})).value_or(-1));
        break;
      }
      case Cat::memcpy:
        ++t.memcpy_count;
        t.memcpy_us += *dur;
        break;
      case Cat::memset:
        ++t.memset_count;
        t.memset_us += *dur;
        break;
      case Cat::runtime: {
        const bool kernel_launch = has(name, "LaunchKernel") || has(name, "LaunchCooperativeKernel");
        if (!kernel_launch && !has(name, "Memcpy") && !has(name, "Memset") && !has(name, "GraphLaunch")) return;
        const auto corr = int_of(arg(args, {"correlation"}));
        if (!corr) return;
        Launch l;
        l.thread = thread_of(p, e);
        l.ts_us = *ts;
        l.external_id = int_of(arg(args, {"External id", "external id"})).value_or(0);
        p.launches[*corr] = l;
        if (kernel_launch) t.launch_us.push_back(*dur);
        break;
      }
      case Cat::cpu: {
        if (name.rfind("ProfilerStep#", 0) == 0) {
          t.steps.push_back({*ts, *ts + *dur, name});
          p.thread_steps[static_cast<std::size_t>(thread_of(p, e))] = 1;
        } else if (name.rfind("Optimizer.step#", 0) == 0 || name.rfind("Optimizer.zero_grad#", 0) == 0) {
          p.optimizer.push_back({thread_of(p, e), *ts, *ts + *dur});
        } else if (is_backward_node(name)) {
          const std::int32_t th = thread_of(p, e);
          p.thread_backward[static_cast<std::size_t>(th)] = 1;
          p.backward_nodes.push_back({th, *ts, *ts + *dur});
        }
        break;
      }
      case Cat::other: break;
    }
  });
  if (!problems.empty()) throw InputError(std::move(problems));
  if (t.kernels.empty())
    throw InputError(Origin{path, 0, 0}, "traceEvents",
                     "no GPU kernel events (cat \"kernel\"): profile with ProfilerActivity.CUDA to time the GPU");

  // The rank and the GPU.
  if (const json* r = arg(top.distributed, {"rank"}); r != nullptr && int_of(r)) {
    t.rank = static_cast<int>(*int_of(r));
    t.rank_known = true;
  } else {
    t.rank = options.default_rank;
    t.notes.push_back(fmt::format("no distributedInfo.rank: taken as rank {} (the file's position)", t.rank));
  }
  t.world_size = static_cast<int>(int_of(arg(top.distributed, {"world_size"})).value_or(0));
  t.devices_listed = top.devices.is_array() ? static_cast<int>(top.devices.size()) : 0;
  {
    std::map<std::int64_t, double> per_device;
    for (std::size_t i = 0; i < t.kernels.size(); ++i) per_device[p.kernel_device[i]] += t.kernels[i].dur_us;
    auto best = std::max_element(per_device.begin(), per_device.end(),
                                 [](const auto& a, const auto& b) { return a.second < b.second; });
    const std::int64_t device = best->first;
    t.device = device_name(top.devices, device);
    if (per_device.size() > 1) {
      std::vector<KinetoKernel> kept;
      std::vector<std::int64_t> corr;
      for (std::size_t i = 0; i < t.kernels.size(); ++i)
        if (p.kernel_device[i] == device) {
          kept.push_back(t.kernels[i]);
          corr.push_back(p.kernel_correlation[i]);
        }
      t.notes.push_back(fmt::format("kernels ran on {} devices: only device {} (the busiest, {} kernels) is read",
                                    per_device.size(), device, kept.size()));
      t.kernels = std::move(kept);
      p.kernel_correlation = std::move(corr);
    }
  }

  // Steps by start time; the threads that ran the backward.
  std::sort(t.steps.begin(), t.steps.end(), [](const TraceInterval& a, const TraceInterval& b) { return a.ts_us < b.ts_us; });
  std::vector<char> backward_thread(p.thread_backward.size(), 0);
  bool fallback = false;
  for (std::size_t i = 0; i < p.thread_backward.size(); ++i) {
    if (!p.thread_backward[i]) continue;
    if (p.thread_steps[i]) fallback = true;  // the main thread runs autograd itself
    else backward_thread[i] = 1;
  }
  // Fallback: the backward is the span of autograd nodes on the main thread within a step.
  std::vector<Span> backward_windows;
  if (fallback) {
    std::sort(p.backward_nodes.begin(), p.backward_nodes.end(), [](const CpuSpan& a, const CpuSpan& b) { return a.ts_us < b.ts_us; });
    const std::size_t windows = std::max<std::size_t>(t.steps.size(), 1);
    for (std::size_t s = 0; s < windows; ++s) {
      const double lo = t.steps.empty() ? -1e300 : t.steps[s].ts_us, hi = t.steps.empty() ? 1e300 : t.steps[s].end_us;
      Span w{1e300, -1e300};
      for (const CpuSpan& n : p.backward_nodes)
        if (p.thread_steps[static_cast<std::size_t>(n.thread)] && n.ts_us >= lo && n.ts_us < hi) {
          w.a = std::min(w.a, n.ts_us);
          w.b = std::max(w.b, n.end_us);
        }
      if (w.a < w.b) backward_windows.push_back(w);
    }
    t.notes.push_back("autograd ran on the thread that marks the steps: the backward is taken as the span of its "
                      "autograd nodes in each step");
  }
  p.backward_nodes.clear();
  p.backward_nodes.shrink_to_fit();

  // Each kernel's launch, step and phase.
  std::int64_t unlaunched = 0, outside = 0;
  for (std::size_t i = 0; i < t.kernels.size(); ++i) {
    KinetoKernel& k = t.kernels[i];
    std::int32_t thread = -1;
    double when = k.ts_us;
    if (auto it = p.launches.find(p.kernel_correlation[i]); p.kernel_correlation[i] >= 0 && it != p.launches.end()) {
      thread = it->second.thread;
      when = it->second.ts_us;
      k.launch_us = when;
      if (k.external_id == 0) k.external_id = it->second.external_id;
    } else {
      ++unlaunched;
    }
    if (!t.steps.empty()) {
      auto it = std::upper_bound(t.steps.begin(), t.steps.end(), when,
                                 [](double v, const TraceInterval& s) { return v < s.ts_us; });
      if (it != t.steps.begin() && when < std::prev(it)->end_us) k.step = static_cast<std::int32_t>(std::prev(it) - t.steps.begin());
      else ++outside;
    }
    const KernelName& kn = t.name_class[k.name];
    bool in_optimizer = kn.optimizer;
    for (const CpuSpan& o : p.optimizer)
      if (when >= o.ts_us && when < o.end_us && (thread < 0 || thread == o.thread)) in_optimizer = true;
    bool backward = thread >= 0 && backward_thread[static_cast<std::size_t>(thread)];
    for (const Span& w : backward_windows)
      if (when >= w.a && when <= w.b) backward = true;
    k.phase = in_optimizer ? StepPhase::optimizer : backward ? StepPhase::backward : StepPhase::forward;
  }
  if (unlaunched > 0)
    t.notes.push_back(fmt::format("{} of {} kernels have no host launch in the trace: their phase and step are taken "
                                  "from their own start time",
                                  unlaunched, t.kernels.size()));
  if (t.steps.empty()) t.notes.push_back("no ProfilerStep#N annotations: the whole trace is taken as one step");
  else if (outside > 0) t.notes.push_back(fmt::format("{} kernels were launched outside every ProfilerStep", outside));

  // Pass 2: the CPU ops that launched a kernel, with their recorded shapes.
  std::unordered_map<std::int64_t, std::int32_t> wanted;
  for (const KinetoKernel& k : t.kernels)
    if (k.external_id != 0) wanted.emplace(k.external_id, -1);
  p.launches.clear();
  if (!wanted.empty()) {
    (void)stream_trace(path, [&](const json& e, std::size_t, int) {
      if (!e.is_object() || category(e) != Cat::cpu) return;
      const json empty = json::object();
      const json& args = e.contains("args") && e["args"].is_object() ? e["args"] : empty;
      const auto id = int_of(arg(args, {"External id", "external id"}));
      if (!id) return;
      auto it = wanted.find(*id);
      if (it == wanted.end() || it->second >= 0) return;
      KinetoOp op;
      op.name = string_of(e, "name");
      op.dtype = op_dtype(args);
      op.gemm = gemm_of(op.name, args);
      op.attention = attention_of(op.name, args);
      op.collective = collective_of(args);
      op.bytes = bytes_of(args);
      it->second = static_cast<std::int32_t>(t.ops.size());
      t.ops.push_back(std::move(op));
    });
  }
  std::int64_t shapes = 0;
  for (KinetoKernel& k : t.kernels) {
    if (k.external_id == 0) continue;
    if (auto it = wanted.find(k.external_id); it != wanted.end()) k.op = it->second;
    if (k.op >= 0) {
      const KinetoOp& op = t.ops[static_cast<std::size_t>(k.op)];
      if (op.gemm || op.attention || op.bytes > 0) ++shapes;
      if (k.cls == KernelClass::nccl && k.collective < 0 && op.collective) {
        k.collective = static_cast<std::int32_t>(t.collectives.size());
        t.collectives.push_back(*op.collective);
      }
    }
  }
  if (shapes == 0)
    t.notes.push_back("no input shapes recorded (profile with record_shapes=True): no FLOP or byte counts, and no "
                      "GEMM or attention shapes to fit");
  return t;
}

std::vector<std::string> expand_kineto_paths(const std::vector<std::string>& paths) {
  ProblemList problems;
  std::vector<std::string> out;
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!std::filesystem::is_directory(p, ec)) {
      out.push_back(p);
      continue;
    }
    std::vector<std::string> found;
    for (const auto& e : std::filesystem::directory_iterator(p, ec)) {
      const std::string name = e.path().filename().string();
      if (e.is_regular_file(ec) && (name.ends_with(".json") || name.ends_with(".json.gz"))) found.push_back(e.path().string());
    }
    if (ec) problems.add(Problem{Origin{p, 0, 0}, "", "cannot list the folder: " + ec.message()});
    else if (found.empty())
      problems.add(Problem{Origin{p, 0, 0}, "", "a folder with no *.json or *.json.gz trace in it"});
    std::sort(found.begin(), found.end());
    out.insert(out.end(), found.begin(), found.end());
  }
  problems.throw_if_any();
  return out;
}

std::vector<KinetoTrace> read_kineto_traces(const std::vector<std::string>& given) {
  const std::vector<std::string> paths = expand_kineto_paths(given);
  ProblemList problems;
  std::vector<KinetoTrace> traces;
  for (std::size_t i = 0; i < paths.size(); ++i)
    problems.check([&] { traces.push_back(read_kineto_trace(paths[i], KinetoReadOptions{static_cast<int>(i)})); });
  problems.throw_if_any();
  std::map<int, std::string> seen;
  for (const auto& t : traces) {
    auto [it, fresh] = seen.emplace(t.rank, t.source);
    if (!fresh)
      problems.add(Problem{Origin{t.source, 0, 0}, "distributedInfo.rank",
                           fmt::format("rank {} again: {} is rank {} too (one trace per rank)", t.rank, it->second, t.rank)});
  }
  problems.throw_if_any();
  std::sort(traces.begin(), traces.end(), [](const KinetoTrace& a, const KinetoTrace& b) { return a.rank < b.rank; });
  return traces;
}

// ---- public: summaries -------------------------------------------------------------------------

std::optional<double> ClassSummary::achieved_tflops() const {
  if (flops_time_s <= 0 || flops <= 0) return std::nullopt;
  return flops / flops_time_s * 1e-12;
}

std::optional<double> ClassSummary::achieved_GBps() const {
  if (bytes_time_s <= 0 || bytes <= 0) return std::nullopt;
  return bytes / bytes_time_s * 1e-9;
}

double CollectiveGroup::median_s() const { return median(times_s); }

double CollectiveGroup::busbw_GBps() const {
  const double t = median_s();
  return t > 0 && group > 1 ? size_bytes * busbw_factor(op, group) / t * 1e-9 : 0.0;
}

std::vector<KernelCall> kernel_calls(const KinetoTrace& t, KernelClass cls) {
  std::vector<KernelCall> calls;
  std::unordered_map<std::int64_t, std::size_t> by_op;
  for (std::size_t i = 0; i < t.kernels.size(); ++i) {
    const KinetoKernel& k = t.kernels[i];
    if (k.cls != cls) continue;
    if (k.external_id != 0) {
      auto [it, fresh] = by_op.emplace(k.external_id, calls.size());
      if (!fresh) {
        calls[it->second].kernels.push_back(i);
        calls[it->second].time_s += k.dur_us * 1e-6;
        continue;
      }
    }
    calls.push_back(KernelCall{i, {i}, k.dur_us * 1e-6});
  }
  return calls;
}

KinetoSummary summarize_kineto(const std::vector<KinetoTrace>& traces) {
  KinetoSummary s;
  s.ranks = static_cast<int>(traces.size());
  for (int c = 0; c < kernel_class_count; ++c) s.classes.push_back(ClassSummary{static_cast<KernelClass>(c)});
  std::vector<double> launches;
  std::map<std::tuple<std::int64_t, std::int64_t, std::int64_t, std::int64_t, int>, GemmGroup> gemms;
  std::map<std::tuple<int, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t, bool, int>, AttentionGroup> attns;
  std::map<std::tuple<int, int, double>, CollectiveGroup> colls;
  std::set<std::string> devices;
  for (const KinetoTrace& t : traces) {
    s.sources.push_back(t.source);
    if (!t.device.empty()) devices.insert(t.device);
    s.memcpy_count += t.memcpy_count;
    s.memset_count += t.memset_count;
    s.memcpy_s += t.memcpy_us * 1e-6;
    s.memset_s += t.memset_us * 1e-6;
    launches.insert(launches.end(), t.launch_us.begin(), t.launch_us.end());
    for (const std::string& n : t.notes) s.notes.push_back(fmt::format("rank {}: {}", t.rank, n));
    for (const KinetoKernel& k : t.kernels) {
      ClassSummary& c = s.classes[static_cast<std::size_t>(k.cls)];
      const double dur = k.dur_us * 1e-6;
      ++c.count;
      c.time_s += dur;
      if (k.phase == StepPhase::optimizer) {
        ++s.optimizer_kernels;
        s.optimizer_s += dur;
      }
      if (k.cls == KernelClass::nccl) {
        if (k.collective < 0) {
          ++s.nccl_without_metadata;
          continue;
        }
        const CollectiveCall& cc = t.collectives[static_cast<std::size_t>(k.collective)];
        if (cc.size_bytes > 0 && cc.group > 1) {
          c.bytes += cc.size_bytes * busbw_factor(cc.op, cc.group);
          c.bytes_time_s += dur;
          ++c.shaped;
        }
        CollectiveGroup& g = colls[{static_cast<int>(cc.op), cc.group, cc.size_bytes}];
        g.op = cc.op;
        g.group = cc.group;
        g.size_bytes = cc.size_bytes;
        ++g.calls;
        g.times_s.push_back(dur);
      }
    }
    // GEMM and attention FLOPs and elementwise bytes per call (an op's kernels together).
    for (KernelClass cls : {KernelClass::gemm, KernelClass::attention, KernelClass::elementwise}) {
      ClassSummary& c = s.classes[static_cast<std::size_t>(cls)];
      for (const KernelCall& call : kernel_calls(t, cls)) {
        const KinetoKernel& k = t.kernels[call.first];
        const KinetoOp* op = k.op >= 0 ? &t.ops[static_cast<std::size_t>(k.op)] : nullptr;
        if (op == nullptr) continue;
        if (cls == KernelClass::gemm && op->gemm) {
          c.flops += op->gemm->flops();
          c.flops_time_s += call.time_s;
          c.shaped += static_cast<std::int64_t>(call.kernels.size());
          GemmGroup& g = gemms[{op->gemm->batch, op->gemm->m, op->gemm->k, op->gemm->n, op->dtype ? static_cast<int>(*op->dtype) : -1}];
          g.shape = *op->gemm;
          g.dtype = op->dtype;
          ++g.calls;
          g.kernels += static_cast<std::int64_t>(call.kernels.size());
          g.time_s += call.time_s;
        } else if (cls == KernelClass::attention && op->attention) {
          const AttentionCall& a = *op->attention;
          c.flops += a.flops();
          c.flops_time_s += call.time_s;
          c.shaped += static_cast<std::int64_t>(call.kernels.size());
          const auto family = t.name_class[k.name].family;
          AttentionGroup& g = attns[{static_cast<int>(a.pass), a.batch, a.heads, a.kv_heads, a.q_rows, a.kv_rows, a.head_dim,
                                     a.causal, family ? static_cast<int>(*family) : -1}];
          g.call = a;
          g.dtype = op->dtype;
          g.family = family;
          ++g.calls;
          g.kernels += static_cast<std::int64_t>(call.kernels.size());
          g.time_s += call.time_s;
        } else if (cls == KernelClass::elementwise && op->bytes > 0) {
          c.bytes += op->bytes;
          c.bytes_time_s += call.time_s;
          c.shaped += static_cast<std::int64_t>(call.kernels.size());
        }
      }
    }
  }
  for (auto& [key, g] : gemms) s.gemms.push_back(g);
  for (auto& [key, g] : attns) s.attentions.push_back(g);
  for (auto& [key, g] : colls) s.collectives.push_back(g);
  std::sort(s.gemms.begin(), s.gemms.end(), [](const GemmGroup& a, const GemmGroup& b) { return a.time_s > b.time_s; });
  std::sort(s.attentions.begin(), s.attentions.end(), [](const AttentionGroup& a, const AttentionGroup& b) { return a.time_s > b.time_s; });
  std::sort(s.collectives.begin(), s.collectives.end(), [](const CollectiveGroup& a, const CollectiveGroup& b) {
    return a.median_s() * static_cast<double>(a.calls) > b.median_s() * static_cast<double>(b.calls);
  });
  if (!launches.empty()) s.launch_median_us = median(launches);
  for (const std::string& d : devices) s.device += (s.device.empty() ? "" : ", ") + d;
  if (s.nccl_without_metadata > 0)
    s.notes.push_back(fmt::format("{} NCCL kernels carry no size or group (a PyTorch older than 2.1, or a collective "
                                  "outside c10d): their bandwidth is not known",
                                  s.nccl_without_metadata));
  return s;
}

// ---- public: the measured step ---------------------------------------------------------------

namespace {

// One rank's step, in seconds.
struct RankStep {
  double step = 0, idle = 0, comm_exposed = 0;
  // [pass][class]: fwd/bwd x gemm/attention/other; then fwd, bwd compute; optimizer; comm.
  struct Part {
    double busy = 0, sum = 0, kernels = 0;
    bool present = false;
  };
  Part fwd_gemm, fwd_attention, fwd_other, bwd_gemm, bwd_attention, bwd_other, fwd_compute, bwd_compute, optimizer, comm;
};

RankStep::Part part_of(const std::vector<const KinetoKernel*>& ks) {
  RankStep::Part p;
  std::vector<Span> spans;
  for (const KinetoKernel* k : ks) {
    spans.push_back({k->ts_us, k->ts_us + k->dur_us});
    p.sum += k->dur_us * 1e-6;
  }
  p.busy = union_length(spans) * 1e-6;
  p.kernels = static_cast<double>(ks.size());
  p.present = !ks.empty();
  return p;
}

std::vector<RankStep> rank_steps(const KinetoTrace& t) {
  const std::size_t n = t.steps.empty() ? 1 : t.steps.size();
  std::vector<std::vector<const KinetoKernel*>> by_step(n);
  for (const KinetoKernel& k : t.kernels) {
    if (t.steps.empty()) by_step[0].push_back(&k);
    else if (k.step >= 0) by_step[static_cast<std::size_t>(k.step)].push_back(&k);
  }
  std::vector<RankStep> out;
  for (std::size_t s = 0; s < n; ++s) {
    const auto& ks = by_step[s];
    if (ks.empty()) continue;
    auto pick = [&](auto pred) {
      std::vector<const KinetoKernel*> v;
      for (const KinetoKernel* k : ks)
        if (pred(*k)) v.push_back(k);
      return v;
    };
    auto compute_of = [&](StepPhase ph, int cls) {  // cls: 0 gemm, 1 attention, 2 other, -1 all
      return pick([&](const KinetoKernel& k) {
        if (k.phase != ph || k.cls == KernelClass::nccl) return false;
        if (cls < 0) return true;
        const int c = k.cls == KernelClass::gemm ? 0 : k.cls == KernelClass::attention ? 1 : 2;
        return c == cls;
      });
    };
    RankStep r;
    r.fwd_gemm = part_of(compute_of(StepPhase::forward, 0));
    r.fwd_attention = part_of(compute_of(StepPhase::forward, 1));
    r.fwd_other = part_of(compute_of(StepPhase::forward, 2));
    r.bwd_gemm = part_of(compute_of(StepPhase::backward, 0));
    r.bwd_attention = part_of(compute_of(StepPhase::backward, 1));
    r.bwd_other = part_of(compute_of(StepPhase::backward, 2));
    r.fwd_compute = part_of(compute_of(StepPhase::forward, -1));
    r.bwd_compute = part_of(compute_of(StepPhase::backward, -1));
    r.optimizer = part_of(compute_of(StepPhase::optimizer, -1));
    const auto comm = pick([](const KinetoKernel& k) { return k.cls == KernelClass::nccl; });
    r.comm = part_of(comm);
    std::vector<Span> compute, all;
    double first = 1e300, last = -1e300;
    for (const KinetoKernel* k : ks) {
      const Span sp{k->ts_us, k->ts_us + k->dur_us};
      all.push_back(sp);
      if (k->cls != KernelClass::nccl) compute.push_back(sp);
      first = std::min(first, sp.a);
      last = std::max(last, sp.b);
    }
    const double busy_compute = union_length(compute);
    const double busy_all = union_length(all);
    r.comm_exposed = std::max(0.0, busy_all - busy_compute) * 1e-6;
    r.step = (t.steps.empty() ? last - first : t.steps[s].end_us - t.steps[s].ts_us) * 1e-6;
    r.idle = std::max(0.0, r.step - busy_all * 1e-6);
    out.push_back(r);
  }
  return out;
}

}  // namespace

MeasuredStep measured_step(const std::vector<KinetoTrace>& traces) {
  MeasuredStep m;
  m.ranks = static_cast<int>(traces.size());
  std::vector<std::vector<RankStep>> per_rank;
  int steps = -1;
  for (const KinetoTrace& t : traces) {
    m.sources.push_back(t.source);
    if (m.device.empty()) m.device = t.device;
    m.world_size = std::max(m.world_size, t.world_size);
    if (t.steps.empty()) m.step_annotated = false;
    per_rank.push_back(rank_steps(t));
    steps = steps < 0 ? static_cast<int>(per_rank.back().size()) : std::min(steps, static_cast<int>(per_rank.back().size()));
    for (const std::string& n : t.notes) m.notes.push_back(fmt::format("rank {}: {}", t.rank, n));
  }
  m.steps = std::max(steps, 0);
  // Per rank the median over its steps; then the median over the ranks.
  auto across = [&](auto get) {
    std::vector<double> ranks;
    for (const auto& rs : per_rank) {
      std::vector<double> v;
      for (const RankStep& r : rs) v.push_back(get(r));
      if (!v.empty()) ranks.push_back(median(v));
    }
    return median(ranks);
  };
  auto phase = [&](RankStep::Part RankStep::*part) {
    MeasuredPhase p;
    p.busy = Seconds(across([&](const RankStep& r) { return (r.*part).busy; }));
    p.kernel_sum = Seconds(across([&](const RankStep& r) { return (r.*part).sum; }));
    p.kernels = across([&](const RankStep& r) { return (r.*part).kernels; });
    for (const auto& rs : per_rank)
      for (const RankStep& r : rs) p.present = p.present || (r.*part).present;
    return p;
  };
  m.step = Seconds(across([](const RankStep& r) { return r.step; }));
  m.idle = Seconds(across([](const RankStep& r) { return r.idle; }));
  m.comm_exposed = Seconds(across([](const RankStep& r) { return r.comm_exposed; }));
  m.fwd_gemm = phase(&RankStep::fwd_gemm);
  m.fwd_attention = phase(&RankStep::fwd_attention);
  m.fwd_other = phase(&RankStep::fwd_other);
  m.bwd_gemm = phase(&RankStep::bwd_gemm);
  m.bwd_attention = phase(&RankStep::bwd_attention);
  m.bwd_other = phase(&RankStep::bwd_other);
  m.fwd_compute = phase(&RankStep::fwd_compute);
  m.bwd_compute = phase(&RankStep::bwd_compute);
  m.optimizer = phase(&RankStep::optimizer);
  m.comm = phase(&RankStep::comm);
  if (!m.step_annotated) m.notes.push_back("step time is the GPU span of the trace (no ProfilerStep annotations)");
  return m;
}

}  // namespace xattn
