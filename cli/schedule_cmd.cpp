// `xattn schedule SCENARIO --mechanism NAME --rank R`: one rank's program of a mechanism's
// Schedule (model/schedule), printed for people learning the algorithms: each op with its
// stable id, stream, round, transfer group, the ops it waits for, its size and FLOPs, and
// what it does; then the rank's totals and the schedule's static checks.
#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "cli/command.hpp"
#include "cli/scenario_input.hpp"
#include "model/core/error.hpp"
#include "model/core/memory.hpp"
#include "model/schedule/builders.hpp"
#include "model/schedule/checks.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn::cli {
namespace {

struct ScheduleArgs {
  std::string scenario;
  std::vector<std::string> overrides;
  std::string mechanism;
  int rank = 0;
  std::string pass = "fwd";
};

std::string parts_text(const Parts& parts) {
  std::string s;
  for (const Part& p : parts) {
    if (!s.empty()) s += ", ";
    s += p.buffer;
  }
  return s;
}

std::string describe(const Op& op) {
  if (const auto* c = op.compute()) {
    switch (c->kind) {
      case ComputeKind::attention_forward:
        return fmt::format("attention fwd {} x {} rows, {} heads: ({}, {}, {}) -> ({}, {})   [{}]", c->block.q_rows,
                           c->block.kv_rows, c->block.heads, c->q, c->k, c->v, c->o, c->lse, op.describe());
      case ComputeKind::attention_backward:
        return fmt::format("attention bwd {} x {} rows, {} heads: dq {} {}, dk/dv {} {}/{}   [{}]", c->block.q_rows,
                           c->block.kv_rows, c->block.heads, c->dq_mode == Accumulate::add ? "+=" : "=", c->dq,
                           c->dkv_mode == Accumulate::add ? "+=" : "=", c->dk, c->dv, op.describe());
      default: return fmt::format("{}: {}", to_string(c->kind), op.describe());
    }
  }
  if (const auto* s = std::get_if<SendOp>(&op.body))
    return fmt::format("send '{}' to rank {}: {}", s->tag, s->peer, parts_text(s->parts));
  if (const auto* r = std::get_if<RecvOp>(&op.body))
    return fmt::format("recv '{}' from rank {}: into {}", r->tag, r->peer, parts_text(r->parts));
  if (const auto* col = op.collective()) {
    std::string group;
    for (int m : col->group) {
      if (!group.empty()) group += ',';
      group += std::to_string(m);
    }
    return fmt::format("{} over ranks [{}]: {} -> {}", to_string(col->kind), group, col->input, col->output);
  }
  return "?";
}

Bytes size_of(const Op& op) {
  if (const auto* t = op.transfer()) return t->size();
  if (const auto* c = op.collective()) return c->bytes_sent();
  return Bytes(0);
}

int run_schedule(const ScheduleArgs& a, Io& io) {
  ScenarioSpec spec = load_spec_with_overrides(a.scenario, a.overrides);
  Scenario sc = resolve(spec);
  std::vector<Mechanism> mechs = parse_mechanisms({a.mechanism}, Origin{"command line", 0, 0}, "--mechanism");
  std::vector<Pass> passes = parse_passes({a.pass}, Origin{"command line", 0, 0}, "--pass");
  const Mechanism m = mechs.front();
  if (a.rank < 0 || a.rank >= sc.ranks())
    throw InputError(Origin{"command line", 0, 0}, "--rank",
                     fmt::format("rank {} is not in 0..{} (the scenario has {} GPUs)", a.rank, sc.ranks() - 1, sc.ranks()));
  BuildOptions b;
  b.shape = sc.shape;
  b.ranks = sc.ranks();
  b.media_items = std::max<std::int64_t>(1, sc.frames);
  b.accumulator_bytes = sc.accumulator_bytes();
  Schedule s;
  // The whole schedule is built to show one rank: refuse one this machine cannot hold.
  const ScheduleSize size = schedule_size(m, passes.front(), b.ranks);
  check_memory(static_cast<std::uint64_t>(std::min(size.bytes(), 1.8e19)),
               fmt::format("the {} schedule on {} GPUs (up to {} ops)", m.name(), b.ranks, size.ops),
               "a rank's program has the same shape on fewer GPUs: try a smaller cluster (--set cluster.nodes=N)");
  try {
    s = build_schedule(m, passes.front(), b);
  } catch (const InfeasibleSchedule& e) {
    throw InputError(Origin{"command line", 0, 0}, "--mechanism", fmt::format("{} cannot run this scenario: {}", m.name(), e.what()));
  }
  const Program& prog = s.programs[static_cast<std::size_t>(a.rank)];
  const Cluster& cl = sc.cluster;
  io.out << fmt::format("# {} {}, rank {} of {} (node {}); S_q = {}, S_kv = {}, H = {}, H_kv = {}, d = {}, mask {}\n",
                        m.name(), to_string(s.pass), a.rank, s.ranks(), cl.node_of(a.rank), sc.shape.q_tokens,
                        sc.shape.kv_tokens, sc.shape.heads, sc.shape.kv_heads, sc.shape.head_dim, to_string(sc.shape.mask));
  io.out << fmt::format("# this rank holds query tokens {} and key/value tokens {}\n",
                        s.data[static_cast<std::size_t>(a.rank)].q_tokens.str(),
                        s.data[static_cast<std::size_t>(a.rank)].kv_tokens.str());
  io.out << "# streams run in order; a transfer group (same g) is posted together; 'after' lists the ops waited for\n";
  io.out << fmt::format("{:<9} {:<8} {:>5} {:>3} {:<14} {:>10} {:>9}  {}\n", "# id", "stream", "round", "g", "after",
                        "size_MB", "GFLOP", "op");
  for (std::size_t i = 0; i < prog.ops.size(); ++i) {
    const Op& op = prog.ops[i];
    std::string deps;
    for (int d : op.deps) {  // appended piece by piece: `"," + string` trips GCC 12 -Wrestrict
      if (!deps.empty()) deps += ',';
      deps += std::to_string(d);
    }
    const TransferOp* t = op.transfer();
    const Flops f = op.compute() ? op.compute()->flops : Flops(0);
    io.out << fmt::format("{:<9} {:<8} {:>5} {:>3} {:<14} {:>10.3f} {:>9.3f}  {}\n",
                          OpId{a.rank, static_cast<int>(i)}.str(), op.stream.name(),
                          op.round < 0 ? std::string("-") : std::to_string(op.round),
                          t && t->group >= 0 ? std::to_string(t->group) : std::string("-"), deps.empty() ? "-" : deps,
                          size_of(op).value() * 1e-6, f.value() * 1e-9, describe(op));
  }
  ScheduleSummary sum = summarize(s, &cl);
  const RankSummary& me = sum.ranks[static_cast<std::size_t>(a.rank)];
  io.out << fmt::format("# rank {}: {} ops, {:.3f} GFLOP, sends {:.3f} MB ({:.3f} MB inside the node, {:.3f} MB across "
                        "nodes) in {} messages and {} collectives; {} rounds\n",
                        a.rank, prog.ops.size(), me.flops.value() * 1e-9, me.bytes_sent.value() * 1e-6,
                        me.bytes_intra.value() * 1e-6, me.bytes_inter.value() * 1e-6, me.messages, me.collectives,
                        sum.round_count);
  CheckResult chk = check_schedule(s);
  io.out << (chk.ok() ? std::string("# static checks: ok (matched transfers, no deadlock, no buffer race)\n")
                      : "# static checks FAILED:\n" + chk.str());
  return chk.ok() ? 0 : 1;
}

}  // namespace

void add_schedule(CLI::App& app, Commands& commands) {
  auto a = std::make_shared<ScheduleArgs>();
  CLI::App* sub = app.add_subcommand("schedule", "Print one rank's program of a mechanism's schedule, op by op");
  sub->add_option("SCENARIO", a->scenario, "Scenario YAML file, e.g. scenarios/llama32v-16xa100.yaml")->required();
  sub->add_option("-m,--mechanism", a->mechanism, "Mechanism: " + mechanism_names())->required();
  sub->add_option("-r,--rank", a->rank, "The rank whose program to print")->capture_default_str();
  sub->add_option("--pass", a->pass, "fwd, bwd or fwd+bwd")->capture_default_str();
  sub->add_option("-s,--set", a->overrides, set_option_help())->type_name("KEY=VALUE");
  commands.add(sub, [a](Io& io) { return run_schedule(*a, io); });
}

}  // namespace xattn::cli
