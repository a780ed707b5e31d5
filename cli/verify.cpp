// `xattn verify`: runs one mechanism's schedule (forward and backward) in the numerical
// reference on small random tensors and prints the max abs error of O, LSE, dQ, dK and dV
// against dense attention (model/reference/verify.hpp). Exits 1 when any error exceeds the
// tolerance, 2 for bad input or a mechanism that cannot run the shape.
#include <memory>
#include <optional>
#include <string>
#include <utility>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "cli/command.hpp"
#include "model/core/error.hpp"
#include "model/schedule/reference/verify.hpp"
#include "model/schedule/builders.hpp"
#include "model/schedule/checks.hpp"

namespace xattn::cli {
namespace {

struct VerifyArgs {
  std::string mechanism;
  int ranks = 4;
  std::int64_t heads = 8, kv_heads = 2, head_dim = 64;
  std::optional<std::int64_t> q_tokens, kv_tokens;
  std::string mask = "dense";
  std::int64_t media_items = 2;
  std::uint64_t seed = 1;
  std::string format = "table";
};

InputError bad(const std::string& field, const std::string& message) {
  return InputError(Origin{"command line", 0, 0}, field, message);
}

int run_verify(const VerifyArgs& a, Io& io) {
  auto mech = parse_mechanism(a.mechanism);
  if (!mech) throw bad("--mechanism", fmt::format("unknown mechanism '{}'; one of {}", a.mechanism, mechanism_names()));
  if (mech->kind == MechanismKind::no_comm)
    throw bad("--mechanism", "no-comm is not attention (each rank sees only its own keys): nothing to verify");
  auto mask = parse_mask(a.mask);
  if (!mask) throw bad("--mask", fmt::format("unknown mask '{}'; one of dense, causal, media-local", a.mask));
  if (a.ranks < 1 || a.ranks > 64) throw bad("--ranks", "must be between 1 and 64");
  reference::VerifyOptions o;
  o.mechanism = *mech;
  o.ranks = a.ranks;
  o.shape.heads = a.heads;
  o.shape.kv_heads = a.kv_heads;
  o.shape.head_dim = a.head_dim;
  o.shape.mask = *mask;
  // Defaults leave a remainder when divided by P, so that blocks are uneven.
  o.shape.q_tokens = a.q_tokens.value_or(4 * a.ranks + 1);
  o.shape.kv_tokens = a.kv_tokens.value_or(*mask == Mask::causal ? o.shape.q_tokens : 6 * a.ranks + 1);
  o.media_items = a.media_items;
  o.seed = a.seed;
  for (const auto& [value, option] : {std::pair{o.shape.heads, "--heads"}, std::pair{o.shape.kv_heads, "--kv-heads"},
                                       std::pair{o.shape.head_dim, "--head-dim"}, std::pair{o.shape.q_tokens, "--q-tokens"},
                                       std::pair{o.shape.kv_tokens, "--kv-tokens"}})
    if (value < 1) throw bad(option, fmt::format("must be positive, got {}", value));
  // In doubles: the product of four 64-bit counts would overflow an integer.
  if (static_cast<double>(o.shape.heads) * static_cast<double>(o.shape.q_tokens) *
          static_cast<double>(o.shape.kv_tokens) * static_cast<double>(o.shape.head_dim) >
      2e9)
    throw bad("--q-tokens", "the reference is for small problems: H·S_q·S_kv·d must stay under 2e9");
  reference::VerifyResult r;
  try {
    r = reference::verify(o);
  } catch (const InfeasibleSchedule& e) {
    throw bad("--mechanism", fmt::format("{} cannot run this shape: {}", mech->name(), e.what()));
  }
  const double tol = reference::kVerifyTolerance;
  const bool ok = r.passed(tol);
  if (a.format == "json") {
    nlohmann::json j;
    j["mechanism"] = mech->name();
    j["ranks"] = a.ranks;
    j["max_abs_error"] = {{"O", r.o}, {"LSE", r.lse}, {"dQ", r.dq}, {"dK", r.dk}, {"dV", r.dv}};
    j["tolerance"] = tol;
    j["passed"] = ok;
    j["shape"] = {{"heads", o.shape.heads}, {"kv_heads", o.shape.kv_heads}, {"head_dim", o.shape.head_dim},
                  {"q_tokens", o.shape.q_tokens}, {"kv_tokens", o.shape.kv_tokens},
                  {"mask", std::string(to_string(o.shape.mask))}, {"seed", o.seed}};
    io.out << j.dump(2, ' ', false, nlohmann::json::error_handler_t::replace) << "\n";
  } else {
    io.out << fmt::format("# xattn verify: {}, P = {}, H = {}, H_kv = {}, d = {}, S_q = {}, S_kv = {}, mask {}, seed {}\n",
                          mech->name(), a.ranks, o.shape.heads, o.shape.kv_heads, o.shape.head_dim, o.shape.q_tokens,
                          o.shape.kv_tokens, to_string(o.shape.mask), o.seed);
    io.out << fmt::format("# {:<8} {:>14} {:>10} {:>4}\n", "tensor", "max_abs_error", "tolerance", "ok");
    auto row = [&](const char* name, double e) {
      io.out << fmt::format("  {:<8} {:>14.3e} {:>10.0e} {:>4}\n", name, e, tol, e <= tol ? "yes" : "NO");
    };
    row("O", r.o);
    row("LSE", r.lse);
    row("dQ", r.dq);
    row("dK", r.dk);
    row("dV", r.dv);
    io.out << fmt::format("# {} ({} ops over {} ranks, fwd+bwd)\n", ok ? "exact" : "NOT EXACT", r.ops, a.ranks);
  }
  return ok ? 0 : 1;
}

}  // namespace

void add_verify(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<VerifyArgs>();
  CLI::App* sub = app.add_subcommand(
      "verify", "Prove a mechanism's schedule exact: run it (fwd+bwd) in the double-precision reference and compare "
                "with dense attention");
  sub->add_option("-m,--mechanism", a->mechanism, "Mechanism: " + mechanism_names())->required();
  sub->add_option("-P,--ranks", a->ranks, "Number of ranks P")->capture_default_str();
  sub->add_option("--heads", a->heads, "Query heads H")->capture_default_str();
  sub->add_option("--kv-heads", a->kv_heads, "Key/value heads H_kv (GQA when < H)")->capture_default_str();
  sub->add_option("--head-dim", a->head_dim, "Head dimension d")->capture_default_str();
  sub->add_option("--q-tokens", a->q_tokens, "Query tokens S_q (default 4·P+1: not divisible by P)");
  sub->add_option("--kv-tokens", a->kv_tokens, "Key/value tokens S_kv (default 6·P+1; S_q when causal)");
  sub->add_option("--mask", a->mask, "dense, causal or media-local")->capture_default_str();
  sub->add_option("--media-items", a->media_items, "Media items of a media-local mask")->capture_default_str();
  sub->add_option("--seed", a->seed, "Random seed of the tensors")->capture_default_str();
  sub->add_option("--format", a->format, "table or json")->check(CLI::IsMember({"table", "json"}))->capture_default_str();
  commands.add(sub, [a](Io& io) { return run_verify(*a, io); });
}

}  // namespace xattn::cli
