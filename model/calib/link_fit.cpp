// The collective model's fit (method in link_fit.hpp and docs/calibration.md, "The fit").
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
#include "model/link_cost.hpp"
#include "model/presets.hpp"

namespace xattn {
namespace {

constexpr int kProtocols = 3;
constexpr std::array<Protocol, kProtocols> kAllProtocols = {Protocol::ll, Protocol::ll128, Protocol::simple};
constexpr double kMiB = 1048576.0;
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---- the unknowns -------------------------------------------------------------------------
// [host per call: single process, MPI; host per GPU a process drives], then per protocol:
// [base latency, local traffic (s/B), hop latency inside, hop latency across, 1/bandwidth
// inside, 1/bandwidth across (s/B), tree level latency, lone-message fixed cost]. Seconds
// and seconds per byte.
constexpr int kPerProtocol = 8;
constexpr int kUnknowns = 3 + kPerProtocol * kProtocols;
constexpr int kPerGpu = 2;
int idx_host(LaunchMode m) { return m == LaunchMode::mpi ? 1 : 0; }
int idx(int p, int k) { return 3 + p * kPerProtocol + k; }
int idx_base(int p) { return idx(p, 0); }
int idx_local(int p) { return idx(p, 1); }
int idx_latency(int cls, int p) { return idx(p, 2 + cls); }
int idx_inverse_bw(int cls, int p) { return idx(p, 4 + cls); }
int idx_tree(int p) { return idx(p, 6); }
int idx_p2p(int p) { return idx(p, 7); }
int class_index(LinkClass c) { return c == LinkClass::inter_node ? 1 : 0; }
int protocol_index(Protocol p) { return p == Protocol::ll ? 0 : p == Protocol::ll128 ? 1 : 2; }

using Vec = Eigen::VectorXd;
using Mat = Eigen::MatrixXd;

// ---- priors (docs/calibration.md, "Priors") -------------------------------------------------
// NVIDIA/nccl src/graph/tuning.cc, 2.18/2.19, in us, per protocol LL, LL128, Simple:
// baseLat of the ring; hwLat of a ring step on NVLink, on PCIe and on the network; hwLat
// of a tree step on the network (2.19's Simple figure).
constexpr double kBaseRing[3] = {6.6, 14.0, 8.4};
constexpr double kHopNvlink[3] = {0.6, 1.9, 3.4};
constexpr double kHopPcie[3] = {1.0, 2.5, 5.7};
constexpr double kHopNet[3] = {2.7, 4.0, 14.0};
constexpr double kTreeNet[3] = {5.0, 8.5, 14.0};
// NCCL's bandwidth factor of each protocol against Simple (ring: LL 1/4, LL128 0.92).
constexpr double kProtocolFactor[3] = {0.25, 0.92, 1.0};
constexpr double kLatencySigma = 0.5;  // relative: NCCL's figures are for its own test machines
constexpr double kLatencyFloor = 0.25;  // of NCCL's figure: a hop is never free
constexpr double kBandwidthSigma = 0.3;
constexpr double kHostSigmaUs = 5.0;
// Row errors are taken to be about 5% (relative): a prior of sigma s weighs as one row
// that far off.
constexpr double kRowSigma = 0.05;

// A linear prior: sum(coef * x) ~ target +- sigma.
struct Prior {
  std::vector<std::pair<int, double>> coef;
  double target = 0;
  double sigma = 1;
};

struct PriorTable {
  std::vector<Prior> rows;
  std::array<double, kUnknowns> floor{};
  std::array<std::string, kUnknowns> source;
  std::array<std::optional<double>, kUnknowns> value;  // the prior of a single parameter
  std::array<std::optional<double>, kUnknowns> sigma;
};

// What NCCL carries through one NIC, for the prior of the Simple bandwidth across nodes:
// the cluster's own figure where its vendor publishes one (Cluster::nccl_per_nic; a
// health-check floor, which healthy machines pass by a little), else the NIC's line rate at
// the share of it Azure's health checks ask of NCCL (github.com/Azure/azurehpc-health-checks,
// check_nccl_allreduce_ib_loopback: 18.0 of 25 GB/s on ND A100 v4, 40.0 of 50 on ND H100
// v5), wider. A ring that reads and writes GPU memory over PCIe at both ends of every hop
// and pipelines through NCCL's proxy gets 72-80% of a line that raw RDMA writes fill to
// 92-94% (185 and 375 Gb/s in the same files).
struct NicPrior {
  BytesPerSecond value;
  double sigma = 0;  // relative
  std::string source;
};
constexpr double kNcclShareOfLine = 0.76;
NicPrior nccl_per_nic(const Cluster& c) {
  if (c.nccl_per_nic)
    return {*c.nccl_per_nic, 0.1,
            fmt::format("the cluster's NCCL all-reduce per NIC, {:.1f} GB/s (the vendor's all-reduce over the NICs)",
                        to_gigabytes_per_second(*c.nccl_per_nic))};
  return {c.inter.bandwidth * kNcclShareOfLine, 0.15,
          fmt::format("the NIC's line rate {:.0f} GB/s x {} (the share of it NCCL's all-reduce reaches in Azure's "
                      "health checks: 0.72 on NDv4, 0.80 on NDv5)",
                      to_gigabytes_per_second(c.inter.bandwidth), kNcclShareOfLine)};
}

PriorTable priors(const FitOptions& o, const Vec* x) {
  PriorTable t;
  const Cluster& c = o.cluster;
  const bool pcie = c.intra_kind == IntraFabric::pcie;
  const auto [nic, nic_sigma, nic_source] = nccl_per_nic(c);
  const double local = 2.0 / c.gpu.hbm.value();  // read the input, write the output
  auto single = [&](int i, double v, double s, std::string src) {
    t.rows.push_back({{{i, 1.0}}, v, s});
    t.value[static_cast<std::size_t>(i)] = v;
    t.sigma[static_cast<std::size_t>(i)] = s;
    t.source[static_cast<std::size_t>(i)] = std::move(src);
  };
  for (int p = 0; p < kProtocols; ++p) {
    const std::string pn(to_string(kAllProtocols[static_cast<std::size_t>(p)]));
    const double hop_in = (pcie ? kHopPcie : kHopNvlink)[p] * 1e-6;
    single(idx_latency(0, p), hop_in, kLatencySigma * hop_in,
           fmt::format("NCCL 2.18 hwLat, ring {} step on {}", pn, pcie ? "PCIe" : "NVLink"));
    single(idx_latency(1, p), kHopNet[p] * 1e-6, kLatencySigma * kHopNet[p] * 1e-6,
           fmt::format("NCCL 2.18 hwLat, ring {} step on the network", pn));
    single(idx_tree(p), kTreeNet[p] * 1e-6, kLatencySigma * kTreeNet[p] * 1e-6,
           fmt::format("NCCL 2.19 hwLat, tree {} step on the network", pn));
    t.floor[static_cast<std::size_t>(idx_latency(0, p))] = kLatencyFloor * hop_in;
    t.floor[static_cast<std::size_t>(idx_latency(1, p))] = kLatencyFloor * kHopNet[p] * 1e-6;
    t.floor[static_cast<std::size_t>(idx_tree(p))] = kLatencyFloor * kTreeNet[p] * 1e-6;
    single(idx_base(p), kBaseRing[p] * 1e-6, (kBaseRing[p] + 1) * 1e-6, fmt::format("NCCL 2.18 baseLat, ring {}", pn));
    single(idx_local(p), local, local, fmt::format("2 bytes of HBM traffic per byte at {:.0f} GB/s", c.gpu.hbm.value() * 1e-9));
    // Inside a node, the link's nominal bandwidth at NCCL's factor for the protocol (LL
    // carries 4 bytes of data in 8, and runs at a quarter of the link in NCCL's model;
    // LL128 120 bytes in 128): a weak pull, so that a regime with few rows keeps a finite
    // bandwidth.
    const double nominal_in = 1.0 / (c.intra.bandwidth.value() * kProtocolFactor[p]);
    t.rows.push_back({{{idx_inverse_bw(0, p), 1.0}}, nominal_in, nominal_in});
    t.source[static_cast<std::size_t>(idx_inverse_bw(0, p))] =
        fmt::format("the link's nominal {:.0f} GB/s x {:.3g} (NCCL's factor for {})", c.intra.bandwidth.value() * 1e-9,
                    kProtocolFactor[p], pn);
    // Across nodes: Simple at what NCCL reaches through one NIC (the cluster's own figure,
    // else the share of the line rate Azure's health checks ask of NCCL); LL and LL128 at
    // Simple's figure over the ratio the protocol shows inside the node.
    const double inv_nic = 1.0 / nic.value();
    const int s = protocol_index(Protocol::simple);
    if (p == s) {
      single(idx_inverse_bw(1, p), inv_nic, nic_sigma * inv_nic, nic_source);
    } else {
      const bool fitted = x != nullptr && (*x)(idx_inverse_bw(0, p)) > 0 && (*x)(idx_inverse_bw(0, s)) > 0;
      const double ratio = fitted ? (*x)(idx_inverse_bw(0, p)) / (*x)(idx_inverse_bw(0, s)) : 1.0 / kProtocolFactor[p];
      t.rows.push_back({{{idx_inverse_bw(1, p), 1.0}, {idx_inverse_bw(1, s), -ratio}}, 0.0, kBandwidthSigma * ratio * inv_nic});
      t.source[static_cast<std::size_t>(idx_inverse_bw(1, p))] =
          fmt::format("Simple's per-NIC figure at {}'s ratio to Simple inside the node", pn);
    }
    // A lone message's kernel costs what the cheapest collective kernel does.
    t.rows.push_back({{{idx_p2p(p), 1.0}, {idx_base(0), -1.0}}, 0.0, (kBaseRing[0] + 1) * 1e-6});
    t.source[static_cast<std::size_t>(idx_p2p(p))] = "the fixed cost of LL's collective kernel";
  }
  t.rows.push_back({{{idx_host(LaunchMode::mpi), 1.0}, {idx_host(LaunchMode::single_process), -1.0}}, 0.0, kHostSigmaUs * 1e-6});
  t.source[1] = "the single-process figure (one process launching for one GPU)";
  single(kPerGpu, 0.0, kHostSigmaUs * 1e-6, "none (0 +- 5 us)");
  return t;
}

// ---- observations and labels --------------------------------------------------------------

struct Observation {
  std::size_t log = 0;
  CollectiveShape shape;
  Bytes size;
  Seconds time;
};

// What a row is assigned to: the host (launch-bound) or the GPUs, and the algorithm and
// protocol the GPUs run. `bounded`: the other side is predicted slower than the
// measurement, which the larger-of-the-two model forbids; the row then also pulls that
// side down to the measurement.
struct Label {
  bool host = false;
  Algorithm algorithm = Algorithm::ring;
  int protocol = 0;
  bool bounded = false;
  friend bool operator==(const Label&, const Label&) = default;
};

struct Features {
  std::array<double, kUnknowns> f{};
  double constant = 0;  // seconds that no unknown carries (NCCL's tree base offset)
};

Features features(const Observation& o, const Label& l, const Vec* x, bool host) {
  Features out;
  if (host) {
    out.f[static_cast<std::size_t>(idx_host(o.shape.launch))] = 1.0;
    out.f[kPerGpu] = o.shape.gpus_per_process();
    return out;
  }
  const int p = l.protocol;
  const Protocol proto = kAllProtocols[static_cast<std::size_t>(p)];
  const CollectiveTerms t = collective_terms(o.shape, o.size, l.algorithm, proto);
  const int c = class_index(t.bottleneck);
  auto set = [&](int i, double v) { out.f[static_cast<std::size_t>(i)] += v; };
  set(idx_local(p), o.size.value());
  if (l.algorithm == Algorithm::p2p) {
    set(idx_p2p(p), 1.0);
    set(idx_latency(c, p), 1.0);
    set(idx_inverse_bw(c, p), t.wire.value());
    return out;
  }
  // The base latency, offset by NCCL's for the tree, never below 0 (price_collective).
  const double offset = t.base_offset.value();
  if (x == nullptr || (*x)(idx_base(p)) + offset >= 0) {
    set(idx_base(p), 1.0);
    out.constant += offset;
  }
  set(idx_latency(0, p), t.intra_hops);
  set(idx_latency(1, p), t.inter_hops);
  set(idx_tree(p), t.tree_levels);
  set(idx_inverse_bw(c, p), t.wire.value() / t.lanes / t.efficiency);
  return out;
}

// Which (class, protocol) regimes exist: the protocol has two rows or more somewhere, and a
// finite bandwidth once fitted.
using Available = std::array<std::array<bool, kProtocols>, 2>;

Available available(const std::vector<Observation>& obs, const std::vector<Label>& assign, const Vec& x) {
  std::array<int, kProtocols> counts{};
  for (std::size_t i = 0; i < obs.size(); ++i)
    if (!assign[i].host || assign[i].bounded) ++counts[static_cast<std::size_t>(assign[i].protocol)];
  Available a{};
  for (int c = 0; c < 2; ++c)
    for (int p = 0; p < kProtocols; ++p)
      a[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)] =
          counts[static_cast<std::size_t>(p)] >= 2 && x(idx_inverse_bw(c, p)) > 0;
  return a;
}

// The calibration the unknowns stand for (the links and launch figures only).
Calibration calibration_of(const Vec& x, const Available& av, bool p2p_measured) {
  Calibration cal;
  cal.launch.single_process = Seconds(x(idx_host(LaunchMode::single_process)));
  cal.launch.mpi = Seconds(x(idx_host(LaunchMode::mpi)));
  cal.launch.per_gpu = Seconds(x(kPerGpu));
  for (int c = 0; c < 2; ++c) {
    LinkCalibration& link = c == 1 ? cal.inter_node : cal.intra_node;
    for (int p = 0; p < kProtocols; ++p) {
      if (!av[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)]) continue;
      ProtocolRegime r;
      r.protocol = kAllProtocols[static_cast<std::size_t>(p)];
      r.latency = Seconds(x(idx_latency(c, p)));
      r.bandwidth = BytesPerSecond(1.0 / x(idx_inverse_bw(c, p)));
      r.base_latency = Seconds(x(idx_base(p)));
      if (c == 1) r.tree_latency = Seconds(x(idx_tree(p)));
      if (x(idx_local(p)) > 0) r.local_bandwidth = BytesPerSecond(1.0 / x(idx_local(p)));
      link.protocols.push_back(r);
      if (p2p_measured && r.protocol != Protocol::ll128) {
        ProtocolRegime m;
        m.protocol = r.protocol;
        m.latency = Seconds(x(idx_p2p(p)) + x(idx_latency(c, p)));
        m.bandwidth = BytesPerSecond(1.0 / (x(idx_inverse_bw(c, p)) + x(idx_local(p))));
        link.p2p.push_back(m);
      }
    }
    if (!link.protocols.empty()) {
      const ProtocolRegime& wide = widest(link.protocols);
      link.bandwidth = wide.bandwidth;
      link.latency = wide.latency;
    }
  }
  return cal;
}

// The model as predictions will use it: the calibration over the nominal cluster.
NcclCollectiveModel model_of(const Calibration& cal, const FitOptions& o) {
  return NcclCollectiveModel(CollectiveLinks::from(o.cluster, cal));
}

// The label of a row under the model: the host where its work is the longer, else the GPUs
// running the (algorithm, protocol) NCCL's tuner picks, the fastest.
Label label_of(const NcclCollectiveModel& m, const Observation& o) {
  const CollectiveEstimate e = m.estimate(o.shape, o.size);
  const double gpu = gpu_time(m.links(), o.shape, o.size, e.algorithm, e.protocol).value();
  const double host = m.links().host(o.shape).value();
  const double other = e.host_bound ? gpu : host;
  return Label{e.host_bound, e.algorithm, protocol_index(e.protocol), other > o.time.value()};
}

// The label whose time under the model is nearest the row's measurement: the host, or any
// (algorithm, protocol) the GPUs could run — a move of the assignment search, not a claim
// about what NCCL picks (label_of says that).
Label nearest_label(const NcclCollectiveModel& m, const Observation& o) {
  const double t = o.time.value();
  const double host = m.links().host(o.shape).value();
  const CollectiveEstimate pick = m.estimate(o.shape, o.size);
  const double picked = gpu_time(m.links(), o.shape, o.size, pick.algorithm, pick.protocol).value();
  Label best{true, pick.algorithm, protocol_index(pick.protocol), picked > t};
  double gap = std::abs(host - t);
  for (Algorithm a : {Algorithm::ring, Algorithm::tree, Algorithm::p2p})
    for (int p = 0; p < kProtocols; ++p) {
      const double g = gpu_time(m.links(), o.shape, o.size, a, kAllProtocols[static_cast<std::size_t>(p)]).value();
      if (!std::isfinite(g) || std::abs(g - t) >= gap) continue;
      gap = std::abs(g - t);
      best = Label{false, a, p, host > t};
    }
  return best;
}

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

// The weighted system for one assignment: rows of relative error, then the priors, in
// unknowns shifted by their floors (x = floor + y, y >= 0).
struct System {
  Mat a;
  Vec b;
  Eigen::Index data_rows = 0;
};

System system_of(const std::vector<Observation>& obs, const std::vector<Label>& assign, const PriorTable& pr,
                 const Vec* x) {
  System s;
  // One row per observation, and one more for each whose other side must come down.
  std::vector<std::pair<std::size_t, bool>> rows;  // (observation, host side)
  for (std::size_t i = 0; i < obs.size(); ++i) {
    rows.emplace_back(i, assign[i].host);
    if (assign[i].bounded) rows.emplace_back(i, !assign[i].host);
  }
  const auto m = static_cast<Eigen::Index>(rows.size());
  const auto np = static_cast<Eigen::Index>(pr.rows.size());
  s.a = Mat::Zero(m + np, kUnknowns);
  s.b = Vec::Zero(m + np);
  s.data_rows = m;
  for (Eigen::Index i = 0; i < m; ++i) {
    const auto [oi, host] = rows[static_cast<std::size_t>(i)];
    const Observation& o = obs[oi];
    const Features f = features(o, assign[oi], x, host);
    double fixed = f.constant;
    for (int j = 0; j < kUnknowns; ++j) {
      s.a(i, j) = f.f[static_cast<std::size_t>(j)] / o.time.value();
      fixed += f.f[static_cast<std::size_t>(j)] * pr.floor[static_cast<std::size_t>(j)];
    }
    s.b(i) = 1.0 - fixed / o.time.value();  // relative error: (prediction - t) / t
  }
  for (Eigen::Index r = 0; r < np; ++r) {
    const Prior& p = pr.rows[static_cast<std::size_t>(r)];
    double target = p.target;
    for (auto [j, c] : p.coef) {
      s.a(m + r, j) = kRowSigma * c / p.sigma;
      target -= c * pr.floor[static_cast<std::size_t>(j)];
    }
    s.b(m + r) = kRowSigma * target / p.sigma;
  }
  return s;
}

Vec solve(const std::vector<Observation>& obs, const std::vector<Label>& assign, const FitOptions& o, const Vec* x) {
  const PriorTable pr = priors(o, x);
  System s = system_of(obs, assign, pr, x);
  Vec norm = Vec::Ones(kUnknowns);
  for (int j = 0; j < kUnknowns; ++j) {
    const double n = s.a.col(j).norm();
    if (n > 0) {
      norm(j) = n;
      s.a.col(j) /= n;
    }
  }
  Vec y = nnls(s.a, s.b);
  for (int j = 0; j < kUnknowns; ++j) y(j) = y(j) / norm(j) + pr.floor[static_cast<std::size_t>(j)];
  return y;
}

double loss(const std::vector<Observation>& obs, const NcclCollectiveModel& m) {
  double s = 0;
  for (const auto& o : obs) {
    const double t = m.estimate(o.shape, o.size).time.value();
    if (!std::isfinite(t)) return kInf;
    const double e = (t - o.time.value()) / o.time.value();
    s += e * e;
  }
  return s;
}

// One-sigma uncertainties of the unknowns at the solution (the inverse of the weighted
// system's normal matrix, over the unknowns not held at a bound), and whether the logs
// touch each unknown at all.
struct Posterior {
  std::array<double, kUnknowns> sigma{};
  std::array<bool, kUnknowns> data{};
  std::array<bool, kUnknowns> at_bound{};
};

Posterior posterior(const std::vector<Observation>& obs, const std::vector<Label>& assign, const FitOptions& o,
                    const Vec& x) {
  Posterior post;
  const PriorTable pr = priors(o, &x);
  const System s = system_of(obs, assign, pr, &x);
  std::vector<Eigen::Index> free;
  for (int j = 0; j < kUnknowns; ++j) {
    post.data[static_cast<std::size_t>(j)] = s.a.col(j).head(s.data_rows).norm() > 0;
    const double above = x(j) - pr.floor[static_cast<std::size_t>(j)];
    post.at_bound[static_cast<std::size_t>(j)] = above <= 1e-12 * std::max(1e-6, std::abs(x(j)));
    if (!post.at_bound[static_cast<std::size_t>(j)] && s.a.col(j).norm() > 0) free.push_back(j);
  }
  Mat sub(s.a.rows(), static_cast<Eigen::Index>(free.size()));
  for (std::size_t c = 0; c < free.size(); ++c) sub.col(static_cast<Eigen::Index>(c)) = s.a.col(free[c]);
  Vec norm = Vec::Ones(static_cast<Eigen::Index>(free.size()));
  for (Eigen::Index c = 0; c < sub.cols(); ++c) {
    norm(c) = sub.col(c).norm();
    sub.col(c) /= norm(c);
  }
  // Residual scale: the rows are relative errors taken to be kRowSigma apart.
  const Mat cov = (sub.transpose() * sub).completeOrthogonalDecomposition().pseudoInverse() * (kRowSigma * kRowSigma);
  for (std::size_t c = 0; c < free.size(); ++c) {
    const auto ci = static_cast<Eigen::Index>(c);
    post.sigma[static_cast<std::size_t>(free[c])] = std::sqrt(std::max(0.0, cov(ci, ci))) / norm(ci);
  }
  return post;
}

}  // namespace

std::string_view to_string(Identification i) {
  switch (i) {
    case Identification::identified: return "identified";
    case Identification::prior: return "prior";
    case Identification::floor: return "floor";
  }
  return "?";
}

FitOptions::FitOptions() : cluster(find_cluster("azure-ndv4")->cluster) {}

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
  std::set<NcclCollective> ops;
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
    if (q.used && (log.op == NcclCollective::all_to_all || log.op == NcclCollective::broadcast ||
                   log.op == NcclCollective::reduce)) {
      q.used = false;
      fit.notes.push_back(fmt::format("{}: {} is not fitted (all_reduce, all_gather, reduce_scatter and sendrecv are); "
                                      "left out.", log_name(log.source), to_string(log.op)));
    }
    fit.logs.push_back(q);
    if (log.ranks() < 2) {
      fit.notes.push_back(fmt::format("{}: one GPU, no communication to fit; left out.", log_name(log.source)));
      continue;
    }
    if (!q.used) continue;
    ops.insert(log.op);
    for (const auto& row : log.rows) {
      if (row.size.value() <= 0) continue;
      // The faster of out-of-place and in-place: interference only ever slows a run.
      double t = kInf;
      for (const auto* m : {&row.out_of_place, &row.in_place})
        if (*m && (*m)->time.value() > 0) t = std::min(t, (*m)->time.value());
      if (!std::isfinite(t)) continue;
      obs.push_back({li, q.shape, row.size, Seconds(t)});
    }
  }
  if (obs.empty())
    throw InputError(Origin{logs.empty() ? std::string("command line") : logs.front().source, 0, 0}, "logs",
                     "nothing to fit: give at least one all_reduce, all_gather, reduce_scatter or sendrecv log "
                     "measured on two or more GPUs");
  const bool p2p_measured = ops.contains(NcclCollective::sendrecv);

  // Search over assignments: start from size thresholds, then alternate fitting and moving
  // every row to what the model says NCCL (or the host) would do, until nothing moves.
  Vec best_x = Vec::Zero(kUnknowns);
  std::vector<Label> best_assign;
  double best_loss = kInf;
  // Moves every row to labeller(model, row) under the fit x; true if any moved.
  auto relabel = [&](const Vec& x, std::vector<Label>& assign, auto&& labeller) {
    const NcclCollectiveModel m = model_of(calibration_of(x, available(obs, assign, x), p2p_measured), options);
    bool moved = false;
    for (std::size_t i = 0; i < obs.size(); ++i) {
      const Label l = labeller(m, obs[i]);
      if (!(l == assign[i])) {
        assign[i] = l;
        moved = true;
      }
    }
    return moved;
  };
  // Alternate fitting and moving every row to the model's label until nothing moves.
  auto settle = [&](std::vector<Label>& assign, const Vec* start) {
    Vec x = start != nullptr ? *start : Vec::Zero(kUnknowns);
    for (int iter = 0; iter < 30; ++iter) {
      x = solve(obs, assign, options, iter == 0 && start == nullptr ? nullptr : &x);
      if (!relabel(x, assign, label_of)) break;
    }
    return x;
  };
  auto keep = [&](const Vec& x, const std::vector<Label>& assign) {
    const double l = loss(obs, model_of(calibration_of(x, available(obs, assign, x), p2p_measured), options));
    if (l < best_loss) {
      best_loss = l;
      best_x = x;
      best_assign = assign;
    }
  };
  for (double t1 : {2048.0, 16384.0, 65536.0}) {
    for (double t2 : {1 * kMiB, 8 * kMiB, 1e30}) {
      std::vector<Label> assign(obs.size());
      for (std::size_t i = 0; i < obs.size(); ++i) {
        const Observation& o = obs[i];
        const double s = o.size.value();
        Label& l = assign[i];
        l.protocol = s <= t1 ? 0 : s <= t2 ? 1 : 2;
        l.algorithm = o.shape.op == NcclCollective::sendrecv ? Algorithm::p2p
                      : o.shape.op == NcclCollective::all_reduce && o.shape.nodes() > 1 && s <= 4 * kMiB
                          ? Algorithm::tree
                          : Algorithm::ring;
        l.host = o.shape.launch == LaunchMode::single_process && s <= 1024;
      }
      keep(settle(assign, nullptr), assign);
    }
  }
  // Where NCCL's choice alternates between algorithms from one size to the next (over two
  // nodes: tree, ring, tree again as the protocols change), moving rows to the tuner's pick
  // can stall with rows on the wrong side. From the best settled fit, move each row to the
  // label whose time is nearest its measurement, refit, and settle again.
  {
    std::vector<Label> assign = best_assign;
    Vec x = best_x;
    for (int round = 0; round < 3; ++round) {
      if (!relabel(x, assign, nearest_label)) break;
      x = settle(assign, &x);
      keep(x, assign);
    }
  }
  const Available av = available(obs, best_assign, best_x);
  fit.calibration = calibration_of(best_x, av, p2p_measured);
  const NcclCollectiveModel model = model_of(fit.calibration, options);

  // Quality, row by row, with the model as predictions will use it.
  double sum = 0;
  int count = 0;
  for (std::size_t li = 0; li < logs.size(); ++li) {
    LogQuality& q = fit.logs[li];
    if (!q.used) continue;
    double s_all = 0, s_large = 0;
    for (const auto& row : logs[li].rows) {
      if (row.size.value() <= 0) continue;
      double t = kInf;
      for (const auto* m : {&row.out_of_place, &row.in_place})
        if (*m && (*m)->time.value() > 0) t = std::min(t, (*m)->time.value());
      if (!std::isfinite(t)) continue;
      const CollectiveRow pred = predict_row(model, q.shape, row.size);
      FitRow r;
      r.log = li;
      r.line = row.line;
      r.size = row.size;
      r.count = row.count;
      r.type = row.type;
      r.measured = Seconds(t);
      r.fitted = pred.time;
      r.measured_busbw_GBps = row.size.value() / t * 1e-9 * busbw_factor(q.shape.op, q.shape.gpus);
      r.fitted_busbw_GBps = pred.busbw_GBps;
      r.protocol = pred.protocol;
      r.algorithm = pred.algorithm;
      r.host_bound = pred.host_bound;
      r.error = (pred.time.value() - t) / t;
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

  // Every figure written, with how the logs decided it.
  const PriorTable pr = priors(options, &best_x);
  const Posterior post = posterior(obs, best_assign, options, best_x);
  auto report = [&](std::string name, int j, double scale, bool inverse) {
    const auto ju = static_cast<std::size_t>(j);
    FitParameter fp;
    fp.name = std::move(name);
    const double v = best_x(j);
    // Bandwidths are written as rates: 1 / unknown, sigma by first-order propagation.
    fp.value = inverse ? (v > 0 ? scale / v : 0) : v * scale;
    const double sig = post.sigma[ju];
    fp.sigma = inverse ? (v > 0 ? scale * sig / (v * v) : 0) : sig * scale;
    if (pr.value[ju]) {
      fp.prior = inverse ? (*pr.value[ju] > 0 ? scale / *pr.value[ju] : 0) : *pr.value[ju] * scale;
      fp.prior_sigma = inverse ? (*pr.value[ju] > 0 ? scale * *pr.sigma[ju] / (*pr.value[ju] * *pr.value[ju]) : 0)
                               : *pr.sigma[ju] * scale;
    }
    fp.prior_source = pr.source[ju];
    const bool has_floor = pr.floor[ju] > 0;
    if (!post.data[ju]) {
      fp.how = Identification::prior;
    } else if (has_floor && post.at_bound[ju]) {
      fp.how = Identification::floor;
    } else if (pr.value[ju] && pr.sigma[ju] && post.sigma[ju] > 0.5 * *pr.sigma[ju]) {
      fp.how = Identification::prior;
    } else {
      fp.how = Identification::identified;
    }
    fit.parameters.push_back(fp);
  };
  report("launch single_process_us", idx_host(LaunchMode::single_process), 1e6, false);
  report("launch mpi_us", idx_host(LaunchMode::mpi), 1e6, false);
  report("launch per_gpu_us", kPerGpu, 1e6, false);
  for (int c = 0; c < 2; ++c)
    for (int p = 0; p < kProtocols; ++p) {
      if (!av[static_cast<std::size_t>(c)][static_cast<std::size_t>(p)]) continue;
      const std::string prefix =
          fmt::format("{} {}", c == 1 ? "inter_node" : "intra_node", to_string(kAllProtocols[static_cast<std::size_t>(p)]));
      report(prefix + " latency_us", idx_latency(c, p), 1e6, false);
      report(prefix + " bandwidth_GBps", idx_inverse_bw(c, p), 1e-9, true);
      if (c == 0) {
        report(prefix + " base_latency_us", idx_base(p), 1e6, false);
        report(prefix + " local_bandwidth_GBps", idx_local(p), 1e-9, true);
      } else {
        report(prefix + " tree_latency_us", idx_tree(p), 1e6, false);
      }
      if (p2p_measured && c == 0 && p != 1) report(prefix + " p2p_fixed_us", idx_p2p(p), 1e6, false);
    }

  // What the logs could not say, and what was taken from where.
  std::set<int> nodes_seen;
  bool mpi_seen = false, single_seen = false;
  for (const auto& o : obs) {
    nodes_seen.insert(o.shape.nodes());
    mpi_seen = mpi_seen || o.shape.launch == LaunchMode::mpi;
    single_seen = single_seen || o.shape.launch == LaunchMode::single_process;
  }
  const bool multi_node = *nodes_seen.rbegin() > 1;
  for (NcclCollective op : {NcclCollective::all_reduce, NcclCollective::all_gather, NcclCollective::reduce_scatter,
                            NcclCollective::sendrecv}) {
    if (ops.contains(op)) continue;
    std::string from;
    for (NcclCollective x : ops) from += (from.empty() ? "" : ", ") + std::string(to_string(x));
    if (op == NcclCollective::sendrecv)
      fit.notes.push_back(fmt::format(
          "sendrecv: no sendrecv_perf log; a lone message is derived from the {} fit: the smallest base latency (a "
          "kernel's fixed cost) plus one hop at the hop latency and bandwidth of LL or Simple, plus the local traffic "
          "(no p2p: section written; price_message derives it).", from));
    else if (op == NcclCollective::all_reduce)
      fit.notes.push_back(fmt::format(
          "all_reduce: no all_reduce_perf log; its ring and tree use the base latencies, hop latencies, bandwidths and "
          "local traffic fitted on {}, with NCCL's step counts for all-reduce; the tree's level latency is a prior.",
          from));
    else
      fit.notes.push_back(fmt::format(
          "{}: no {}_perf log; NCCL runs it as a ring: n-1 steps moving (n-1)/n of the buffer, priced with the base "
          "latencies, hop latencies, bandwidths and local traffic fitted on {}.", to_string(op), to_string(op), from));
  }
  if (!multi_node)
    fit.notes.push_back(fmt::format(
        "No log spans nodes: every inter-node figure is a prior: per NIC {:.1f} GB/s for Simple ({}), LL and LL128 at "
        "their ratio to Simple inside the node, hop and tree-level latencies from NCCL's tables.",
        fit.calibration.inter_node.bandwidth ? to_gigabytes_per_second(*fit.calibration.inter_node.bandwidth) : 0.0,
        nccl_per_nic(options.cluster).source));
  else if (nodes_seen.size() - (nodes_seen.contains(1) ? 1 : 0) == 1)
    fit.notes.push_back(
        "Across nodes the logs cover one node count: the inter-node hop and tree-level latencies are told apart from "
        "the base latencies only because those are shared with the logs inside a node (and through their priors, "
        "where the table says so); logs at another node count would measure them directly.");
  if (!mpi_seen)
    fit.notes.push_back("No MPI log: the host cost of a call launched by one process per GPU is the single-process "
                        "figure (a prior); it matters only where the GPUs' time is shorter.");
  if (!single_seen)
    fit.notes.push_back("No single-process log: the host cost per GPU a process drives rests on its prior (0 +- 5 us).");
  for (std::size_t li = 0; li < logs.size(); ++li) {
    const LogQuality& q = fit.logs[li];
    if (!q.used) continue;
    double tree_lo = kInf, tree_hi = 0, host_hi = 0;
    for (const auto& r : fit.rows) {
      if (r.log != li) continue;
      if (r.algorithm == Algorithm::tree) {
        tree_lo = std::min(tree_lo, r.size.value());
        tree_hi = std::max(tree_hi, r.size.value());
      }
      if (r.host_bound) host_hi = std::max(host_hi, r.size.value());
    }
    if (tree_hi > 0)
      fit.notes.push_back(fmt::format("{}: NCCL's tree is the fastest from {} to {}, the ring elsewhere.",
                                      log_name(q.source), size_text(tree_lo), size_text(tree_hi)));
    if (host_hi > 0)
      fit.notes.push_back(fmt::format("{}: up to {} a call is bound by the host launching {} kernel(s), not by the GPUs.",
                                      log_name(q.source), size_text(host_hi), q.shape.gpus_per_process()));
  }
  return fit;
}

}  // namespace xattn
