// Link fit (method in link_fit.hpp and docs/calibration.md, "Fit").
#include "model/calib/link_fit.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <filesystem>
#include <limits>
#include <map>
#include <set>

#include <Eigen/Dense>
#include <fmt/format.h>

#include "model/core/error.hpp"

namespace xattn {
namespace {

constexpr int kProtocols = 3;
constexpr std::array<Protocol, kProtocols> kAllProtocols = {Protocol::ll, Protocol::ll128, Protocol::simple};
constexpr double kMiB = 1048576.0;

// Unknowns: [overhead(single), overhead(mpi), latency per hop(class, protocol) x 6,
// 1/bandwidth(class, protocol) x 6, base latency(class, protocol) x 6], in seconds and
// seconds per byte. LL's base latency is the launch overhead itself (the two cannot be
// told apart), so its column stays empty and the fit leaves it at zero.
constexpr int kUnknowns = 2 + 3 * 2 * kProtocols;
int idx_overhead(LaunchMode m) { return m == LaunchMode::mpi ? 1 : 0; }
int idx_latency(int cls, int p) { return 2 + cls * kProtocols + p; }
int idx_inverse_bw(int cls, int p) { return 2 + 2 * kProtocols + cls * kProtocols + p; }
int idx_base(int cls, int p) { return 2 + 4 * kProtocols + cls * kProtocols + p; }
int class_index(LinkClass c) { return c == LinkClass::inter_node ? 1 : 0; }

using Vec = Eigen::VectorXd;
using Mat = Eigen::MatrixXd;

// Lawson-Hanson non-negative least squares: min |A x - b| subject to x >= 0.
Vec nnls(const Mat& a, const Vec& b) {
  const Eigen::Index k = a.cols();
  Vec x = Vec::Zero(k);
  std::vector<bool> passive(static_cast<std::size_t>(k), false);
  auto solve_passive = [&]() {
    std::vector<Eigen::Index> cols;
    for (Eigen::Index j = 0; j < k; ++j)
      if (passive[static_cast<std::size_t>(j)]) cols.push_back(j);
    Mat sub(a.rows(), static_cast<Eigen::Index>(cols.size()));
    for (std::size_t c = 0; c < cols.size(); ++c) sub.col(static_cast<Eigen::Index>(c)) = a.col(cols[c]);
    Vec zs = sub.colPivHouseholderQr().solve(b);
    Vec z = Vec::Zero(k);
    for (std::size_t c = 0; c < cols.size(); ++c) z(cols[c]) = zs(static_cast<Eigen::Index>(c));
    return z;
  };
  for (int outer = 0; outer < 4 * k; ++outer) {
    Vec w = a.transpose() * (b - a * x);
    Eigen::Index best = -1;
    double wmax = 1e-12 * std::max(1.0, b.norm());
    for (Eigen::Index j = 0; j < k; ++j)
      if (!passive[static_cast<std::size_t>(j)] && w(j) > wmax) {
        wmax = w(j);
        best = j;
      }
    if (best < 0) break;
    passive[static_cast<std::size_t>(best)] = true;
    for (int inner = 0; inner < 4 * k; ++inner) {
      Vec z = solve_passive();
      bool feasible = true;
      for (Eigen::Index j = 0; j < k; ++j)
        if (passive[static_cast<std::size_t>(j)] && z(j) <= 0) feasible = false;
      if (feasible) {
        x = z;
        break;
      }
      double alpha = 1.0;
      for (Eigen::Index j = 0; j < k; ++j)
        if (passive[static_cast<std::size_t>(j)] && z(j) <= 0) alpha = std::min(alpha, x(j) / (x(j) - z(j)));
      x += alpha * (z - x);
      for (Eigen::Index j = 0; j < k; ++j)
        if (passive[static_cast<std::size_t>(j)] && x(j) <= 1e-15) {
          passive[static_cast<std::size_t>(j)] = false;
          x(j) = 0;
        }
    }
  }
  return x;
}

// One measured time to fit.
struct Observation {
  std::size_t log = 0;
  LaunchMode launch = LaunchMode::single_process;
  CollectiveTerms terms;
  Bytes size;
  Seconds time;
};

std::array<double, kUnknowns> features(const Observation& o, int p) {
  std::array<double, kUnknowns> f{};
  const int c = class_index(o.terms.bottleneck);
  f[static_cast<std::size_t>(idx_overhead(o.launch))] = 1.0;
  f[static_cast<std::size_t>(idx_latency(c, p))] = o.terms.hops;
  f[static_cast<std::size_t>(idx_inverse_bw(c, p))] = o.terms.wire.value() / o.terms.lanes;
  if (p != 0) f[static_cast<std::size_t>(idx_base(c, p))] = 1.0;
  return f;
}

double predict(const Observation& o, int p, const Vec& x) {
  auto f = features(o, p);
  double t = 0;
  for (int j = 0; j < kUnknowns; ++j) t += f[static_cast<std::size_t>(j)] * x(j);
  return t;
}

// Which (class, protocol) regimes exist in an assignment: at least two rows, and a finite
// bandwidth once fitted.
using Available = std::array<std::array<bool, kProtocols>, 2>;

Available available(const std::vector<Observation>& obs, const std::vector<int>& assign, const Vec* x) {
  std::array<std::array<int, kProtocols>, 2> counts{};
  for (std::size_t i = 0; i < obs.size(); ++i) ++counts[static_cast<std::size_t>(class_index(obs[i].terms.bottleneck))][static_cast<std::size_t>(assign[i])];
  Available a{};
  for (int c = 0; c < 2; ++c)
    for (int p = 0; p < kProtocols; ++p)
      a[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)] =
          counts[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)] >= 2 && (x == nullptr || (*x)(idx_inverse_bw(c, p)) > 0);
  return a;
}

// Fastest available protocol for an observation, and its time.
std::pair<int, double> fastest(const Observation& o, const Vec& x, const Available& av) {
  const int c = class_index(o.terms.bottleneck);
  int best = -1;
  double t = std::numeric_limits<double>::infinity();
  for (int p = 0; p < kProtocols; ++p) {
    if (!av[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)]) continue;
    double tp = predict(o, p, x);
    if (tp < t) {
      t = tp;
      best = p;
    }
  }
  return {best, t};
}

Vec solve(const std::vector<Observation>& obs, const std::vector<int>& assign) {
  const auto m = static_cast<Eigen::Index>(obs.size());
  constexpr int kRidge = 2 * kProtocols;
  Mat a = Mat::Zero(m + kRidge, kUnknowns);
  Vec b = Vec::Zero(m + kRidge);
  for (Eigen::Index i = 0; i < m; ++i) {
    const auto& o = obs[static_cast<std::size_t>(i)];
    auto f = features(o, assign[static_cast<std::size_t>(i)]);
    for (int j = 0; j < kUnknowns; ++j) a(i, j) = f[static_cast<std::size_t>(j)] / o.time.value();
    b(i) = 1.0;  // relative error: (prediction - t) / t
  }
  Vec norm = Vec::Ones(kUnknowns);
  for (int j = 0; j < kUnknowns; ++j) {
    double n = a.col(j).norm();
    if (n > 0) {
      norm(j) = n;
      a.col(j) /= n;
    }
  }
  // Latency per hop and the fixed part (launch overhead, base latency) are
  // indistinguishable when a link class is measured at one ring size only; a faint pull
  // towards zero hop latency gives the shared part to the fixed one there and changes
  // nothing where the data decide.
  for (int c = 0; c < 2; ++c)
    for (int p = 0; p < kProtocols; ++p) a(m + c * kProtocols + p, idx_latency(c, p)) = 1e-2;
  Vec y = nnls(a, b);
  for (int j = 0; j < kUnknowns; ++j) y(j) /= norm(j);
  return y;
}

double loss(const std::vector<Observation>& obs, const Vec& x, const Available& av) {
  double s = 0;
  for (const auto& o : obs) {
    double t = fastest(o, x, av).second;
    if (!std::isfinite(t)) return std::numeric_limits<double>::infinity();
    double e = (t - o.time.value()) / o.time.value();
    s += e * e;
  }
  return s;
}

}  // namespace

std::string size_text(double bytes) {
  const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  int u = 0;
  while (bytes >= 1024 && u < 4) {
    bytes /= 1024;
    ++u;
  }
  return fmt::format("{:g} {}", bytes, units[u]);
}

std::string log_name(const std::string& source) { return std::filesystem::path(source).filename().string(); }

CollectiveShape shape_of(const NcclLog& log, const FitOptions& options) {
  CollectiveShape s;
  s.op = log.op;
  s.gpus = log.ranks();
  s.gpus_per_node = log.gpus_per_node();
  s.nics_per_node = options.nics_per_node > 0 ? options.nics_per_node : s.gpus_per_node;
  s.launch = log.launch();
  return s;
}

LinkFit fit_links(const std::vector<NcclLog>& logs, const FitOptions& options) {
  LinkFit fit;
  std::vector<Observation> obs;
  for (std::size_t li = 0; li < logs.size(); ++li) {
    const NcclLog& log = logs[li];
    LogQuality q;
    q.source = log.source;
    q.shape = shape_of(log, options);
    q.gpu = log.gpu();
    q.used = log.ranks() >= 2;
    if (log.ranks() % log.nodes() != 0)
      throw InputError(Origin{log.source, 1, 0}, "devices",
                       fmt::format("{} ranks on {} hosts: the fit needs the same number of GPUs on every node",
                                   log.ranks(), log.nodes()));
    fit.logs.push_back(q);
    if (!q.used) {
      fit.notes.push_back(fmt::format("{}: one GPU, no communication to fit; left out.", log_name(log.source)));
      continue;
    }
    for (const auto& row : log.rows) {
      if (row.size.value() <= 0) continue;
      for (const auto* m : {&row.out_of_place, &row.in_place}) {
        if (!*m || (*m)->time.value() <= 0) continue;
        obs.push_back({li, q.shape.launch, collective_terms(q.shape, row.size), row.size, (*m)->time});
      }
    }
  }
  if (obs.empty())
    throw InputError(Origin{logs.empty() ? std::string("command line") : logs.front().source, 0, 0}, "logs",
                     "nothing to fit: give at least one log measured on two or more GPUs");

  // Search over protocol assignments: start from size thresholds, then alternate fitting
  // and moving every row to its fastest protocol until nothing moves.
  Vec best_x = Vec::Zero(kUnknowns);
  Available best_av{};
  double best_loss = std::numeric_limits<double>::infinity();
  const double starts_ll[] = {2048, 8192, 32768, 131072, 524288};
  const double starts_ll128[] = {1 * kMiB, 4 * kMiB, 16 * kMiB, 64 * kMiB, 1e30};
  for (double t1 : starts_ll) {
    for (double t2 : starts_ll128) {
      std::vector<int> assign(obs.size());
      for (std::size_t i = 0; i < obs.size(); ++i) {
        const double s = obs[i].size.value();
        assign[i] = s <= t1 ? 0 : s <= t2 ? 1 : 2;
      }
      Vec x;
      Available av{};
      for (int iter = 0; iter < 25; ++iter) {
        x = solve(obs, assign);
        av = available(obs, assign, &x);
        bool moved = false;
        for (std::size_t i = 0; i < obs.size(); ++i) {
          int p = fastest(obs[i], x, av).first;
          if (p >= 0 && p != assign[i]) {
            assign[i] = p;
            moved = true;
          }
        }
        if (!moved) break;
      }
      double l = loss(obs, x, av);
      if (l < best_loss) {
        best_loss = l;
        best_x = x;
        best_av = av;
      }
    }
  }

  // The calibration: regimes of every class that had data, launch overheads of every mode.
  Calibration& cal = fit.calibration;
  std::set<LaunchMode> modes;
  std::set<int> classes;
  for (const auto& o : obs) {
    modes.insert(o.launch);
    classes.insert(class_index(o.terms.bottleneck));
  }
  for (LaunchMode m : modes) {
    Seconds v(best_x(idx_overhead(m)));
    (m == LaunchMode::mpi ? cal.launch.mpi : cal.launch.single_process) = v;
  }
  for (int c : classes) {
    LinkCalibration& link = c == 1 ? cal.inter_node : cal.intra_node;
    for (int p = 0; p < kProtocols; ++p) {
      if (!best_av[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)]) continue;
      link.protocols.push_back({kAllProtocols[static_cast<std::size_t>(p)], Seconds(best_x(idx_latency(c, p))),
                                BytesPerSecond(1.0 / best_x(idx_inverse_bw(c, p))), Seconds(best_x(idx_base(c, p)))});
    }
    if (!link.protocols.empty()) {
      const auto& wide = *std::max_element(
          link.protocols.begin(), link.protocols.end(),
          [](const ProtocolRegime& a, const ProtocolRegime& b) { return a.bandwidth < b.bandwidth; });
      // The hop latency is only written as the class's figure where the logs measured it:
      // rings of two sizes or more. Otherwise the cluster's nominal latency stays.
      std::set<double> hops;
      for (const auto& o : obs)
        if (class_index(o.terms.bottleneck) == c) hops.insert(o.terms.hops);
      if (hops.size() >= 2) link.latency = wide.latency;
      link.bandwidth = wide.bandwidth;
    }
  }

  // Quality, row by row, with the model as predictions will use it.
  Cluster nominal;  // classes without data are never used for these rows
  nominal.intra = {BytesPerSecond(1e12), Seconds(0)};
  nominal.inter = {BytesPerSecond(1e12), Seconds(0)};
  RingCollectiveModel model(CollectiveLinks::from(nominal, cal));
  double sum = 0;
  int count = 0;
  for (std::size_t li = 0; li < logs.size(); ++li) {
    LogQuality& q = fit.logs[li];
    if (!q.used) continue;
    double s_all = 0, s_large = 0;
    for (const auto& row : logs[li].rows) {
      if (row.size.value() <= 0) continue;
      const NcclMeasure& m = row.best_known();
      if (m.time.value() <= 0) continue;
      CollectiveRow pred = predict_row(model, q.shape, row.size);
      FitRow r;
      r.log = li;
      r.line = row.line;
      r.size = row.size;
      r.count = row.count;
      r.type = row.type;
      r.measured = m.time;
      r.fitted = pred.time;
      r.measured_busbw_GBps = row.size.value() / m.time.value() * 1e-9 * busbw_factor(q.shape.op, q.shape.gpus);
      r.fitted_busbw_GBps = pred.busbw_GBps;
      r.protocol = pred.protocol;
      r.error = (pred.time.value() - m.time.value()) / m.time.value();
      const double a = std::abs(r.error);
      s_all += a;
      ++q.rows;
      if (row.size.value() >= kMiB) {
        s_large += a;
        ++q.rows_large;
      }
      q.max_error = std::max(q.max_error, a);
      fit.max_error = std::max(fit.max_error, a);
      sum += a;
      ++count;
      fit.rows.push_back(r);
    }
    q.mape = q.rows > 0 ? s_all / q.rows : 0;
    q.mape_large = q.rows_large > 0 ? s_large / q.rows_large : 0;
  }
  fit.mape = count > 0 ? sum / count : 0;

  // Where the data disagree with a ring.
  const ProtocolRegime* intra_ll = nullptr;
  for (const auto& r : cal.intra_node.protocols)
    if (r.protocol == Protocol::ll) intra_ll = &r;
  std::set<double> inter_hops;
  for (const auto& o : obs)
    if (o.terms.bottleneck == LinkClass::inter_node) inter_hops.insert(o.terms.hops);
  for (std::size_t li = 0; li < logs.size(); ++li) {
    const LogQuality& q = fit.logs[li];
    if (!q.used) continue;
    const std::string name = log_name(q.source);
    double t_min = std::numeric_limits<double>::infinity();
    Bytes at;
    for (const auto& row : logs[li].rows)
      if (row.size.value() > 0 && row.best_known().time.value() < t_min) {
        t_min = row.best_known().time.value();
        at = row.size;
      }
    const int nodes = q.shape.nodes();
    if (nodes > 1 && intra_ll != nullptr) {
      // Even ignoring the launch cost and every inter-node hop, a ring's intra-node hops
      // alone take this long at the LL latency measured inside one node.
      const CollectiveTerms t = collective_terms(q.shape, at);
      const double intra_hops = t.hops * (q.shape.gpus - nodes) / q.shape.gpus;
      const double floor = intra_hops * intra_ll->latency.value();
      if (t_min < floor)
        fit.notes.push_back(fmt::format(
            "{}: {} takes {:.1f} us, less than the {:.0f} intra-node ring hops alone would ({:.1f} us at "
            "{:.2f} us per LL hop): NCCL ran a tree (or NVLS) for small messages here, not a ring; the "
            "inter-node regimes absorb it.",
            name, size_text(at.value()), t_min * 1e6, intra_hops, floor * 1e6, intra_ll->latency.value() * 1e6));
    }
    // Bandwidth beyond what a ring over these links can carry.
    const LinkCalibration& link = nodes > 1 ? cal.inter_node : cal.intra_node;
    if (link.bandwidth) {
      const double lanes = collective_terms(q.shape, Bytes(kMiB)).lanes;
      const double ring_cap = link.bandwidth->value() * lanes * 1e-9;
      int over = 0;
      for (const auto& r : fit.rows)
        if (r.log == li && r.measured_busbw_GBps > 1.1 * ring_cap) ++over;
      if (over > 0)
        fit.notes.push_back(fmt::format(
            "{}: {} rows exceed the ring's bus bandwidth ({:.0f} GB/s) by more than 10%: a sign of NVLS, "
            "SHARP or a tree.",
            name, over, ring_cap));
    }
    // Systematic error at small sizes: latency grows with ranks unlike a ring's steps.
    double signed_sum = 0;
    int small = 0;
    for (const auto& r : fit.rows)
      if (r.log == li && r.size.value() < 65536) {
        signed_sum += r.error;
        ++small;
      }
    if (small > 0 && std::abs(signed_sum / small) > 0.10)
      fit.notes.push_back(fmt::format(
          "{}: small messages are {} by {:.0f}% on average: their latency does not grow with the ranks the "
          "way a ring's does (tree or NVLS likely).",
          name, signed_sum > 0 ? "over-predicted" : "under-predicted", std::abs(signed_sum / small) * 100));
  }
  if (inter_hops.size() == 1 && cal.launch.mpi) {
    bool mpi_single_node = false;
    for (const auto& o : obs)
      if (o.launch == LaunchMode::mpi && o.terms.bottleneck == LinkClass::intra_node) mpi_single_node = true;
    if (!mpi_single_node)
      fit.notes.push_back(
          "Across nodes the logs cover one ring size only, all launched by MPI: the latency per inter-node "
          "hop cannot be told apart from the fixed costs, so the fit gives it to them (hop latency 0: "
          "small-message time stays flat with more nodes, as NCCL's tree roughly does), and the MPI launch "
          "overhead includes the fixed inter-node latency. Logs at another node count, or an MPI log inside "
          "one node, separate them.");
  }
  return fit;
}

}  // namespace xattn
