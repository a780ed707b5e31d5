// Around the planner's search (plan.hpp; docs/plan.md): the largest workload some plan
// fits (bisection over whole searches), the break-even map of the best mechanism over two
// fields (columns cut where the best changes, each cut bisected to 1%), and the static plan
// against a per-length mechanism policy for a data set of mixed video lengths.
#include <algorithm>
#include <cctype>
#include <variant>
#include <array>
#include <atomic>
#include <cmath>
#include <exception>
#include <fstream>
#include <map>
#include <mutex>
#include <sstream>
#include <thread>

#include <fmt/format.h>

#include "sim/plan_internal.hpp"

namespace xattn::sim {

using namespace plan_detail;

namespace {

InputError option_error(const std::string& option, const std::string& message) {
  return InputError(Origin{"command line", 0, 0}, option, message);
}

// Runs body(i) for i in [0, n) on `jobs` threads; rethrows the first exception.
template <class Body>
void parallel_for(std::size_t n, int jobs, Body&& body) {
  std::atomic<std::size_t> next{0};
  std::mutex mu;
  std::exception_ptr failure;
  auto work = [&] {
    try {
      for (;;) {
        {
          std::lock_guard lock(mu);
          if (failure) return;
        }
        const std::size_t i = next.fetch_add(1);
        if (i >= n) return;
        body(i);
      }
    } catch (...) {
      std::lock_guard lock(mu);
      if (!failure) failure = std::current_exception();
    }
  };
  const int threads = std::max(1, std::min<int>(jobs, static_cast<int>(std::max<std::size_t>(n, 1))));
  std::vector<std::thread> pool;
  for (int t = 1; t < threads; ++t) pool.emplace_back(work);
  work();
  for (auto& t : pool) t.join();
  if (failure) std::rethrow_exception(failure);
}

std::optional<double> numeric_value(const Scenario& s, const Field& f) {
  const FieldValue v = f.get(s);
  if (const auto* i = std::get_if<std::int64_t>(&v)) return static_cast<double>(*i);
  if (const auto* d = std::get_if<double>(&v)) return *d;
  return std::nullopt;
}

void set_number(ScenarioSpec& spec, const Field& f, double v) {
  if (f.type == FieldType::integer) f.set(spec, FieldValue(static_cast<std::int64_t>(std::llround(v))));
  else f.set(spec, FieldValue(v));
}

std::string number_text(double v, bool integer) {
  return integer ? fmt::format("{}", static_cast<std::int64_t>(std::llround(v))) : fmt::format("{}", v);
}

}  // namespace

// ---- maximize ------------------------------------------------------------------------------

std::optional<Maximized> maximize(const PlanRequest& request, const MaximizeRequest& what, const PlanOptions& options) {
  const Field* f = find_field(what.field);
  if (f == nullptr) throw option_error("--maximize", fmt::format("no such field '{}' (xattn fields lists them)", what.field));
  if (f->type != FieldType::integer)
    throw option_error("--maximize", fmt::format("{} is not a whole number: the bisection needs an integer field", what.field));
  for (const char* chosen : {"cluster.nodes", "cluster.gpus_per_node", "training.sp", "training.dp", "training.global_batch"})
    if (what.field == chosen)
      throw option_error("--maximize", fmt::format("{} is one of the things the search chooses (or keeps fixed)", what.field));
  if (what.bound < 1) throw option_error("--maximize", "the bound must be at least 1");
  const Prepared base = prepare(request);  // checks the request before any search
  const auto now_value = numeric_value(base.scenario, *f);
  ProcessGroup* group = options.group;

  Maximized out;
  out.field = what.field;
  PlanOptions quiet = options;
  quiet.explain = false;
  quiet.progress = nullptr;
  auto request_at = [&](std::int64_t v) {
    PlanRequest r = request;
    r.overrides.push_back(fmt::format("{}={}", what.field, v));
    return r;
  };
  // Some plan fits at v (every rank takes rank 0's word for it).
  auto fits = [&](std::int64_t v) {
    ++out.searches;
    bool ok = false;
    try {
      const PlanResult r = plan_search(request_at(v), quiet);
      ok = r.best.has_value();
    } catch (const InputError&) {
      ok = false;  // the value does not make a scenario (or leaves nothing to run)
    }
    if (group != nullptr && group->size() > 1) ok = group->broadcast(ok ? "1" : "0") == "1";
    return ok;
  };
  std::int64_t lo = 0, hi = 0;
  const std::int64_t start = std::clamp<std::int64_t>(now_value ? static_cast<std::int64_t>(*now_value) : 1, 1, what.bound);
  if (fits(start)) {
    lo = start;
    hi = start;
    while (true) {
      if (hi >= what.bound) {
        out.at_bound = true;
        break;
      }
      const std::int64_t next = hi > what.bound / 2 ? what.bound : hi * 2;
      if (!fits(next)) {
        hi = next;
        break;
      }
      lo = next;
      hi = next;
    }
  } else {
    if (start == 1 || !fits(1)) return std::nullopt;
    lo = 1;
    hi = start;
  }
  while (!out.at_bound && hi - lo > 1) {
    const std::int64_t mid = lo + (hi - lo) / 2;
    (fits(mid) ? lo : hi) = mid;
  }
  out.value = lo;
  out.result = plan_search(request_at(lo), options);
  ++out.searches;
  return out;
}

// ---- the break-even map ------------------------------------------------------------------------

namespace {

std::vector<double> log_grid(double lo, double hi, int n, bool integer) {
  std::vector<double> out;
  for (int i = 0; i < n; ++i) {
    const double t = n == 1 ? 0.0 : static_cast<double>(i) / (n - 1);
    double v = lo * std::pow(hi / lo, t);
    if (integer) v = std::max(1.0, std::round(v));
    if (out.empty() || v != out.back()) out.push_back(v);
  }
  return out;
}

}  // namespace

BreakEvenMap break_even(const ScenarioSpec& spec_in, const std::vector<std::string>& overrides,
                        const BreakEvenRequest& req, int jobs) {
  ScenarioSpec spec = spec_in;
  for (const auto& o : overrides) apply_override(spec, o);
  const Scenario s = resolve(spec);
  const Field* fx = find_field(req.field_x);
  const Field* fy = find_field(req.field_y);
  for (const auto& [f, name] : {std::pair{fx, req.field_x}, std::pair{fy, req.field_y}}) {
    if (f == nullptr) throw option_error("--break-even", fmt::format("no such field '{}' (xattn fields lists them)", name));
    if (f->type != FieldType::integer && f->type != FieldType::number)
      throw option_error("--break-even", fmt::format("{} is not a number", name));
  }
  if (req.field_x == req.field_y) throw option_error("--break-even", "the two fields must differ");
  if (req.samples < 2) throw option_error("--grid", fmt::format("at least 2 samples per axis, got {}", req.samples));
  BreakEvenMap map;
  map.field_x = req.field_x;
  map.field_y = req.field_y;
  map.now_x = numeric_value(s, *fx).value_or(0);
  map.now_y = numeric_value(s, *fy).value_or(0);
  auto range_of = [&](const std::optional<std::pair<double, double>>& given, double now, const std::string& name,
                      const char* option) {
    std::pair<double, double> r = given.value_or(std::pair{now / 16, now * 16});
    if (!(r.first > 0) || !(r.second > r.first))
      throw option_error(given ? option : "--break-even",
                         fmt::format("{}: the range must be positive and increasing, got {}..{}{}", name, r.first,
                                     r.second, given ? "" : " (the scenario's value / 16 .. x 16); give one"));
    return r;
  };
  const auto rx = range_of(req.range_x, map.now_x, req.field_x, "--x-range");
  const auto ry = range_of(req.range_y, map.now_y, req.field_y, "--y-range");
  const bool ix = fx->type == FieldType::integer, iy = fy->type == FieldType::integer;
  map.xs = log_grid(rx.first, rx.second, req.samples, ix);
  const std::vector<double> ys = log_grid(ry.first, ry.second, req.samples, iy);

  const bool multimodal = s.model.arch.multimodal();
  const int sp = iteration_layout(s).sp;
  const std::vector<Mechanism> mechs = multimodal ? cross_candidates(sp) : self_candidates(sp);
  for (const auto& m : mechs) map.mechanisms.push_back(m.name());

  std::atomic<std::uint64_t> evaluations{0};
  // The fastest mechanism that fits at (x, y): its index, or -1.
  auto best_at = [&](double x, double y) {
    ScenarioSpec at = spec;
    set_number(at, *fx, x);
    set_number(at, *fy, y);
    std::optional<Scenario> sc;
    try {
      sc.emplace(resolve(at));
    } catch (const InputError&) {
      return -1;
    }
    int best = -1;
    double best_t = 0;
    for (std::size_t i = 0; i < mechs.size(); ++i) {
      std::optional<Mechanism> cross;
      if (multimodal) cross = mechs[i];
      else sc->training.self_attention = mechs[i];
      const IterationEstimate e = estimate_iteration(*sc, cross, Pass::fwd_bwd);
      evaluations.fetch_add(1, std::memory_order_relaxed);
      if (!e.feasible || !e.fits) continue;
      if (best < 0 || e.time.value() < best_t) {
        best = static_cast<int>(i);
        best_t = e.time.value();
      }
    }
    return best;
  };
  auto name_of = [&](int i) { return i < 0 ? std::string("none fits") : mechs[static_cast<std::size_t>(i)].name(); };

  struct Column {
    std::vector<BreakEvenSegment> segments;
    std::vector<BreakEvenBoundary> boundaries;
  };
  std::vector<Column> columns(map.xs.size());
  parallel_for(map.xs.size(), jobs, [&](std::size_t c) {
    const double x = map.xs[c];
    std::vector<int> best(ys.size());
    for (std::size_t i = 0; i < ys.size(); ++i) best[i] = best_at(x, ys[i]);
    Column& col = columns[c];
    double from = ys.front();
    int current = best.front();
    for (std::size_t i = 0; i + 1 < ys.size(); ++i) {
      double a = ys[i];
      // Cut between a (where `current` is best) and the next sample until it agrees.
      for (int cuts = 0; cuts < 8 && current != best[i + 1]; ++cuts) {
        double b = ys[i + 1];
        int at_b = best[i + 1];
        for (int k = 0; k < 64; ++k) {
          if (b / a - 1.0 <= 0.01 || (iy && b - a <= 1.0)) break;
          double m = std::sqrt(a * b);
          if (iy) m = std::round(m);
          if (m <= a || m >= b) break;
          const int bm = best_at(x, m);
          if (bm == current) a = m;
          else {
            b = m;
            at_b = bm;
          }
        }
        col.segments.push_back(BreakEvenSegment{x, from, b, name_of(current)});
        col.boundaries.push_back(BreakEvenBoundary{x, b, a, name_of(current), name_of(at_b)});
        from = b;
        a = b;
        current = at_b;
      }
    }
    col.segments.push_back(BreakEvenSegment{x, from, ys.back(), name_of(current)});
  });
  for (auto& col : columns) {
    map.segments.insert(map.segments.end(), col.segments.begin(), col.segments.end());
    map.boundaries.insert(map.boundaries.end(), col.boundaries.begin(), col.boundaries.end());
  }
  map.evaluations = evaluations.load();
  return map;
}

std::string break_even_csv(const BreakEvenMap& map) {
  const Field* fx = find_field(map.field_x);
  const Field* fy = find_field(map.field_y);
  const bool ix = fx != nullptr && fx->type == FieldType::integer, iy = fy != nullptr && fy->type == FieldType::integer;
  std::string out = fmt::format("{},{}_from,{}_to,best\n", map.field_x, map.field_y, map.field_y);
  for (const auto& s : map.segments)
    out += fmt::format("{},{},{},{}\n", number_text(s.x, ix), number_text(s.y_from, iy), number_text(s.y_to, iy), s.best);
  return out;
}

std::string break_even_svg(const BreakEvenMap& map) {
  constexpr double W = 720, H = 480, L = 80, R = 190, T = 40, B = 60;
  const double pw = W - L - R, ph = H - T - B;
  if (map.xs.empty() || map.segments.empty()) return "<svg xmlns=\"http://www.w3.org/2000/svg\"/>\n";
  double ylo = map.segments.front().y_from, yhi = map.segments.front().y_to;
  for (const auto& s : map.segments) {
    ylo = std::min(ylo, s.y_from);
    yhi = std::max(yhi, s.y_to);
  }
  // Column edges: geometric midpoints between samples, half a step beyond the ends.
  const auto& xs = map.xs;
  std::vector<double> edges;
  const double step = xs.size() > 1 ? std::sqrt(xs[1] / xs[0]) : 2.0;
  edges.push_back(xs.front() / step);
  for (std::size_t i = 0; i + 1 < xs.size(); ++i) edges.push_back(std::sqrt(xs[i] * xs[i + 1]));
  edges.push_back(xs.back() * (xs.size() > 1 ? std::sqrt(xs.back() / xs[xs.size() - 2]) : 2.0));
  const double xlo = edges.front(), xhi = edges.back();
  if (ylo == yhi) yhi = ylo * 2;
  auto px = [&](double x) { return L + pw * std::log(x / xlo) / std::log(xhi / xlo); };
  auto py = [&](double y) { return T + ph - ph * std::log(y / ylo) / std::log(yhi / ylo); };
  static constexpr std::array<const char*, 10> palette{"#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                                                       "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac"};
  std::vector<std::string> names = map.mechanisms;
  names.push_back("none fits");
  auto colour = [&](const std::string& n) {
    if (n == "none fits") return std::string("#dddddd");
    const auto it = std::find(names.begin(), names.end(), n);
    return std::string(palette[static_cast<std::size_t>(it - names.begin()) % palette.size()]);
  };
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" viewBox=\"0 0 {} {}\" "
      "font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n"
      "<text x=\"{}\" y=\"22\" font-size=\"15\">Fastest mechanism that fits, one training step</text>\n",
      W, H, W, H, L);
  for (const auto& s : map.segments) {
    const auto col = std::lower_bound(xs.begin(), xs.end(), s.x) - xs.begin();
    const double x0 = px(edges[static_cast<std::size_t>(col)]), x1 = px(edges[static_cast<std::size_t>(col) + 1]);
    const double y0 = py(s.y_to), y1 = py(s.y_from);
    svg += fmt::format("<rect x=\"{:.2f}\" y=\"{:.2f}\" width=\"{:.2f}\" height=\"{:.2f}\" fill=\"{}\"><title>{}</title></rect>\n",
                       x0, y0, x1 - x0, y1 - y0, colour(s.best), s.best);
  }
  for (const auto& b : map.boundaries) {
    const auto col = std::lower_bound(xs.begin(), xs.end(), b.x) - xs.begin();
    svg += fmt::format("<line x1=\"{:.2f}\" x2=\"{:.2f}\" y1=\"{:.2f}\" y2=\"{:.2f}\" stroke=\"black\" stroke-width=\"1.5\"/>\n",
                       px(edges[static_cast<std::size_t>(col)]), px(edges[static_cast<std::size_t>(col) + 1]), py(b.y), py(b.y));
  }
  svg += fmt::format("<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" stroke=\"#333\"/>\n", L, T, pw, ph);
  // Ticks: five per axis, log-spaced.
  for (int i = 0; i <= 4; ++i) {
    const double xv = xlo * std::pow(xhi / xlo, i / 4.0), yv = ylo * std::pow(yhi / ylo, i / 4.0);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"middle\">{:.4g}</text>\n", px(xv), T + ph + 18, xv);
    svg += fmt::format("<text x=\"{:.2f}\" y=\"{:.2f}\" text-anchor=\"end\">{:.4g}</text>\n", L - 6, py(yv) + 4, yv);
  }
  svg += fmt::format("<text x=\"{:.2f}\" y=\"{}\" text-anchor=\"middle\">{} (log)</text>\n", L + pw / 2, H - 14, map.field_x);
  svg += fmt::format("<text transform=\"translate(18,{:.2f}) rotate(-90)\" text-anchor=\"middle\">{} (log)</text>\n",
                     T + ph / 2, map.field_y);
  if (map.now_x > 0 && map.now_y > 0)
    svg += fmt::format("<circle cx=\"{:.2f}\" cy=\"{:.2f}\" r=\"5\" fill=\"white\" stroke=\"black\" stroke-width=\"2\">"
                       "<title>the scenario</title></circle>\n",
                       px(map.now_x), py(map.now_y));
  double ly = T + 10;
  for (const auto& n : names) {
    const bool used = std::any_of(map.segments.begin(), map.segments.end(), [&](const BreakEvenSegment& s) { return s.best == n; });
    if (!used) continue;
    svg += fmt::format("<rect x=\"{}\" y=\"{:.2f}\" width=\"14\" height=\"14\" fill=\"{}\"/><text x=\"{}\" y=\"{:.2f}\">{}</text>\n",
                       W - R + 16, ly, colour(n), W - R + 36, ly + 12, n);
    ly += 22;
  }
  svg += fmt::format("<text x=\"{}\" y=\"{:.2f}\">○ the scenario</text>\n", W - R + 16, ly + 12);
  svg += "</svg>\n";
  return svg;
}

// ---- mixed lengths --------------------------------------------------------------------------

std::vector<LengthSample> parse_lengths(const std::string& text, const std::string& source) {
  std::vector<LengthSample> out;
  std::istringstream in(text);
  std::string line;
  int n = 0;
  bool first_line = true;
  ProblemList problems;
  auto trim = [](std::string v) {
    while (!v.empty() && (v.back() == ' ' || v.back() == '\r' || v.back() == '\t')) v.pop_back();
    while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.erase(v.begin());
    return v;
  };
  auto parse_int = [&](const std::string& cell, int column, const char* what, std::int64_t& v) {
    std::size_t used = 0;
    try {
      v = std::stoll(cell, &used);
    } catch (const std::exception&) {
      used = 0;
    }
    if (cell.empty() || used != cell.size() || v < 0) {
      problems.add(Problem{Origin{source, n, column}, what, fmt::format("expected a whole number >= 0, got '{}'", cell)});
      return false;
    }
    return true;
  };
  while (std::getline(in, line)) {
    ++n;
    const std::string trimmed = trim(line);
    if (trimmed.empty() || trimmed.front() == '#') continue;
    const bool header = first_line && !std::isdigit(static_cast<unsigned char>(trimmed.front()));
    first_line = false;
    if (header) continue;  // e.g. "frames,text_tokens"
    const auto comma = trimmed.find(',');
    if (comma == std::string::npos || trimmed.find(',', comma + 1) != std::string::npos) {
      problems.add(Problem{Origin{source, n, 1}, "frames", "expected two columns: frames,text_tokens"});
      continue;
    }
    LengthSample s;
    const bool ok1 = parse_int(trim(trimmed.substr(0, comma)), 1, "frames", s.frames);
    const bool ok2 = parse_int(trim(trimmed.substr(comma + 1)), static_cast<int>(comma) + 2, "text_tokens", s.text_tokens);
    if (ok2 && s.text_tokens == 0) {
      problems.add(Problem{Origin{source, n, static_cast<int>(comma) + 2}, "text_tokens", "must be positive, got 0"});
      continue;
    }
    if (ok1 && ok2) out.push_back(s);
  }
  problems.throw_if_any();
  if (out.empty()) throw InputError(Origin{source, 0, 0}, "--lengths", "no samples in the file");
  return out;
}

std::vector<LengthSample> load_lengths(const std::string& path) {
  std::ifstream in(path);
  if (!in) throw InputError(Origin{path, 0, 0}, "--lengths", "cannot open the lengths file");
  std::stringstream buffer;
  buffer << in.rdbuf();
  return parse_lengths(buffer.str(), path);
}

namespace {

bool switchable(const Mechanism& m) {
  return m.kind == MechanismKind::lv_xattn || m.kind == MechanismKind::ring || m.kind == MechanismKind::startrail;
}

struct SetUp {
  std::size_t branch = 0;
  int self = 0, sharding = 0, ck = 0;
};

struct SetUpResult {
  bool static_ok = false;
  double static_epoch = 0;
  int static_cross = -1;
  bool policy_ok = false;
  double policy_epoch = 0;
  std::vector<int> policy_cross;     // per shape
  std::vector<double> policy_time;   // per shape: count x t / G
};

}  // namespace

LengthPolicy length_policy(const PlanRequest& request, const std::vector<LengthSample>& samples, const PlanOptions& options) {
  Prepared p = prepare(request);
  if (!p.multimodal)
    throw option_error("--lengths", fmt::format("{} has no visual input: mixed video lengths need a model with "
                                                "cross-attention",
                                                p.scenario.model.name));
  LengthPolicy out;
  std::map<std::pair<std::int64_t, std::int64_t>, std::uint64_t> count;
  for (const auto& s : samples) {
    if (s.frames <= 0) throw option_error("--lengths", "every sample needs at least one frame");
    ++count[{s.frames, s.text_tokens}];
  }
  out.samples = samples.size();
  out.shapes = count.size();
  std::vector<std::pair<std::int64_t, std::int64_t>> shapes;
  std::vector<double> weight;  // samples of the shape / global batch
  for (const auto& [k, n] : count) {
    shapes.push_back(k);
    weight.push_back(static_cast<double>(n) / static_cast<double>(p.global_batch));
  }
  // One resolved scenario per GPU count and shape.
  std::vector<std::vector<Scenario>> bases(p.gpu_counts.size());
  for (std::size_t gi = 0; gi < p.gpu_counts.size(); ++gi)
    for (const auto& [frames, text] : shapes) {
      ScenarioSpec spec = p.spec;
      apply_override(spec, "cluster.nodes", std::to_string(p.gpu_counts[gi] / p.per_node), Origin{"--gpus", 0, 0});
      spec.training.sp.reset();
      spec.training.dp.reset();
      spec.training.global_batch = p.global_batch;
      const Origin here{"--lengths", 0, 0};
      apply_override(spec, "workload.frames", std::to_string(frames), here);
      apply_override(spec, "workload.text_tokens", std::to_string(text), here);
      bases[gi].push_back(resolve(spec));
    }
  PlanTally unused;
  price_branches(p, false, unused);
  std::vector<SetUp> setups;
  for (std::size_t bi = 0; bi < p.branches.size(); ++bi) {
    const Branch& b = p.branches[bi];
    if (!b.valid) continue;
    for (std::size_t si = 0; si < b.self.size(); ++si)
      for (std::size_t sh = 0; sh < p.shardings.size(); ++sh)
        for (std::size_t k = 0; k < p.ck_rc.size(); ++k)
          setups.push_back(SetUp{bi, static_cast<int>(si), static_cast<int>(sh), static_cast<int>(k)});
  }
  out.switchable = {"lv-xattn", "ring", "startrail:c=C"};
  std::vector<SetUpResult> results(setups.size());
  std::atomic<std::uint64_t> evaluations{0};
  parallel_for(setups.size(), std::max(1, options.jobs), [&](std::size_t i) {
    const SetUp& u = setups[i];
    const Branch& b = p.branches[u.branch];
    SetUpResult& r = results[i];
    const std::size_t n = shapes.size();
    std::vector<double> best_sw(n, -1.0);
    std::vector<int> best_sw_m(n, -1);
    double best_static = 0;
    // This set-up at every shape: copied once, the layout set once.
    std::vector<Scenario> column = bases[static_cast<std::size_t>(b.gi)];
    for (Scenario& s : column) {
      set_layout(s, b, p.global_batch);
      s.training.self_attention = b.self[static_cast<std::size_t>(u.self)];
      s.training.sharding = p.shardings[static_cast<std::size_t>(u.sharding)];
      s.training.checkpointing = p.ck_rc[static_cast<std::size_t>(u.ck)].first;
      s.recompute = p.ck_rc[static_cast<std::size_t>(u.ck)].second;
    }
    for (std::size_t ci = 0; ci < b.cross.size(); ++ci) {
      const Mechanism& m = b.cross[ci];
      double epoch = 0;
      bool all_fit = true;
      for (std::size_t k = 0; k < n; ++k) {
        const IterationEstimate e = estimate_iteration(column[k], m, Pass::fwd_bwd);
        evaluations.fetch_add(1, std::memory_order_relaxed);
        const bool ok = e.feasible && e.fits;
        if (!ok) {
          all_fit = false;
          if (!switchable(m)) break;
          continue;
        }
        const double share = weight[k] * e.time.value();
        epoch += share;
        if (switchable(m) && (best_sw_m[k] < 0 || share < best_sw[k])) {
          best_sw[k] = share;
          best_sw_m[k] = static_cast<int>(ci);
        }
      }
      if (all_fit && (!r.static_ok || epoch < best_static)) {
        r.static_ok = true;
        best_static = epoch;
        r.static_cross = static_cast<int>(ci);
      }
    }
    r.static_epoch = best_static;
    r.policy_ok = std::all_of(best_sw_m.begin(), best_sw_m.end(), [](int m) { return m >= 0; });
    if (r.policy_ok) {
      r.policy_cross = best_sw_m;
      r.policy_time = best_sw;
      for (double t : best_sw) r.policy_epoch += t;
    }
  });
  out.evaluations = evaluations.load();
  // The best of each, ties to the earlier set-up (enumeration order).
  std::optional<std::size_t> st, po;
  for (std::size_t i = 0; i < setups.size(); ++i) {
    if (results[i].static_ok && (!st || results[i].static_epoch < results[*st].static_epoch)) st = i;
    if (results[i].policy_ok && (!po || results[i].policy_epoch < results[*po].policy_epoch)) po = i;
  }
  // A set-up's plan, priced at the longest sample, its `set` naming that sample.
  const std::size_t longest = shapes.size() - 1;  // the map orders by frames, then text
  auto plan_for = [&](std::size_t i, int ci) {
    const SetUp& u = setups[i];
    const Branch& b = p.branches[u.branch];
    Scenario s = bases[static_cast<std::size_t>(b.gi)][longest];
    set_layout(s, b, p.global_batch);
    s.training.self_attention = b.self[static_cast<std::size_t>(u.self)];
    s.training.sharding = p.shardings[static_cast<std::size_t>(u.sharding)];
    s.training.checkpointing = p.ck_rc[static_cast<std::size_t>(u.ck)].first;
    s.recompute = p.ck_rc[static_cast<std::size_t>(u.ck)].second;
    const IterationEstimate e = estimate_iteration(s, b.cross[static_cast<std::size_t>(ci)], Pass::fwd_bwd);
    Plan plan = make_plan(p, b, e, PlanChoice{b.gi, b.sp, ci, u.self, u.sharding, u.ck, 0}, s);
    plan.set = plan_set(p, plan);
    plan.set.push_back(fmt::format("workload.frames={}", shapes[longest].first));
    plan.set.push_back(fmt::format("workload.text_tokens={}", shapes[longest].second));
    return plan;
  };
  if (st) {
    out.static_plan = plan_for(*st, results[*st].static_cross);
    out.static_epoch = Seconds(results[*st].static_epoch);
  }
  if (po) {
    const SetUpResult& r = results[*po];
    out.policy_plan = plan_for(*po, r.policy_cross.front());
    out.policy_epoch = Seconds(r.policy_epoch);
    const Branch& b = p.branches[setups[*po].branch];
    for (std::size_t k = 0; k < shapes.size(); ++k) {
      const std::string name = b.cross[static_cast<std::size_t>(r.policy_cross[k])].name();
      const auto [frames, text] = shapes[k];
      if (out.buckets.empty() || out.buckets.back().mechanism != name) {
        LengthBucket bucket;
        bucket.frames_from = frames;
        bucket.text_from = text;
        bucket.text_to = text;
        bucket.mechanism = name;
        out.buckets.push_back(bucket);
      }
      LengthBucket& bucket = out.buckets.back();
      bucket.frames_to = frames;
      bucket.text_from = std::min(bucket.text_from, text);
      bucket.text_to = std::max(bucket.text_to, text);
      bucket.samples += count.at(shapes[k]);
      bucket.time += Seconds(r.policy_time[k]);
    }
  }
  if (st && po && out.policy_epoch.value() > 0) out.gain = out.static_epoch.value() / out.policy_epoch.value() - 1.0;
  return out;
}

}  // namespace xattn::sim
