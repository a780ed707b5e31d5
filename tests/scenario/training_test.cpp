// The whole-iteration keys of a scenario (issue 16): training.*, the new presets,
// workload.model as a mapping, and every bad input named with its file, line and field.
#include <gtest/gtest.h>

#include "model/core/error.hpp"
#include "model/iteration.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn {
namespace {

std::string problems_of(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  try {
    ScenarioSpec spec = parse_scenario_spec(yaml, "test.yaml");
    for (const auto& o : overrides) apply_override(spec, o);
    (void)resolve(spec);
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

Scenario resolved(const std::string& yaml, const std::vector<std::string>& overrides = {}) {
  ScenarioSpec spec = parse_scenario_spec(yaml, "test.yaml");
  for (const auto& o : overrides) apply_override(spec, o);
  return resolve(spec);
}

const char* kBase =
    "workload:\n"            // line 1
    "  model: llama-3.2-11b-vision\n"
    "  text_tokens: 1008\n"  // line 3
    "  frames: 192\n"        // line 4
    "cluster:\n"             // line 5
    "  preset: lvxattn-16xa100\n";

const char* kDecoder =
    "workload:\n"                // line 1
    "  model: llama-3-8b\n"      // line 2
    "  text_tokens: 65536\n"     // line 3
    "cluster:\n"                 // line 4
    "  preset: lvxattn-16xa100\n";

TEST(Training, DefaultsAreTrueTrainingOverEveryGpu) {
  const Scenario s = resolved(kBase);
  const TrainingSetup& t = s.training;
  EXPECT_EQ(t.self_attention.name(), "ring-zigzag");
  EXPECT_EQ(t.sp, 16);
  EXPECT_EQ(t.dp, 1);
  EXPECT_EQ(t.global_batch, 1);
  EXPECT_EQ(t.sharding, Sharding::zero3);
  EXPECT_EQ(t.checkpointing, Checkpointing::full);
  EXPECT_EQ(t.frozen, PartSet{static_cast<unsigned>(ModelPart::vision)});
  EXPECT_TRUE(t.optimizer_step);
  EXPECT_EQ(t.preset, TrainingPreset::none);
}

TEST(Training, KeysComeFromFilesAndSet) {
  const Scenario s = resolved(std::string(kBase) +
                                  "training:\n"
                                  "  self_attention: usp:u=4\n"
                                  "  sp: 4\n"
                                  "  global_batch: 8\n"
                                  "  sharding: zero2\n"
                                  "  checkpointing: after-attention\n"
                                  "  frozen: [vision, lm]\n",
                              {"training.optimizer_step=false"});
  EXPECT_EQ(s.training.self_attention.name(), "usp:u=4");
  EXPECT_EQ(s.training.sp, 4);
  EXPECT_EQ(s.training.dp, 4);  // GPUs / sp
  EXPECT_EQ(s.training.global_batch, 8);
  EXPECT_EQ(iteration_layout(s).micro_steps, 2);  // 8 / (batch 1 x dp 4)
  EXPECT_EQ(s.training.sharding, Sharding::zero2);
  EXPECT_EQ(s.training.checkpointing, Checkpointing::after_attention);
  EXPECT_TRUE(s.training.frozen.contains(ModelPart::lm));
  EXPECT_FALSE(s.training.frozen.contains(ModelPart::projector));
  EXPECT_FALSE(s.training.optimizer_step);
  // dp alone sets sp.
  EXPECT_EQ(resolved(kBase, {"training.dp=2"}).training.sp, 8);
}

TEST(Training, ThePaperPresetSetsTheHarnessDefaults) {
  const Scenario s = resolved(kBase, {"training.preset=lv-xattn-paper"});
  EXPECT_EQ(s.training.preset, TrainingPreset::lv_xattn_paper);
  EXPECT_EQ(s.training.self_attention.name(), "ring");
  EXPECT_EQ(s.training.checkpointing, Checkpointing::none);
  EXPECT_FALSE(s.training.optimizer_step);
  EXPECT_EQ(s.training.sharding, Sharding::zero3);
  EXPECT_EQ(s.training.sp, 16);
  // Explicit keys still win.
  EXPECT_TRUE(resolved(kBase, {"training.preset=lv-xattn-paper", "training.optimizer_step=true"})
                  .training.optimizer_step);
}

TEST(Training, BadInputNamesFileLineAndField) {
  const std::string base = kBase;
  // sp not dividing the GPUs (a file key: its line and column).
  std::string e = problems_of(base + "training:\n  sp: 3\n");  // line 8
  EXPECT_NE(e.find("test.yaml:8:3: training.sp: 3 does not divide the 16 GPUs"), std::string::npos) << e;
  // dp x sp != GPUs.
  e = problems_of(base + "training:\n  sp: 4\n  dp: 2\n");  // dp on line 9
  EXPECT_NE(e.find("test.yaml:9:3: training.dp: dp x sp = 2 x 4 = 8, not the 16 GPUs"), std::string::npos) << e;
  // dp beyond its limit with sp given: said without forming sp x dp, which would wrap an
  // int64 (2^62 x 4 = 2^64; the sanitizer build would call the wrap undefined behaviour).
  e = problems_of(kBase, {"training.sp=4", "training.dp=4611686018427387904"});
  EXPECT_NE(e.find("training.dp: dp x sp = 4611686018427387904 x 4 = "), std::string::npos) << e;
  EXPECT_NE(e.find("not the 16 GPUs"), std::string::npos) << e;
  // A global batch that is no multiple of batch x dp.
  e = problems_of(base + "training:\n  sp: 4\n  global_batch: 6\n");
  EXPECT_NE(e.find("test.yaml:9:3: training.global_batch: must be a positive multiple of batch x dp = 1 x 4 = 4, "
                   "got 6"),
            std::string::npos)
      << e;
  // An unknown frozen part.
  e = problems_of(base + "training:\n  frozen: [vision, text_encoder]\n");
  EXPECT_NE(e.find("test.yaml:8:3: training.frozen: unknown part 'text_encoder'; known: vision, projector, lm, "
                   "cross_attention"),
            std::string::npos)
      << e;
  // From --set, the origin is the option.
  e = problems_of(kBase, {"training.sp=5"});
  EXPECT_NE(e.find("--set training.sp=5: training.sp: 5 does not divide"), std::string::npos) << e;
  e = problems_of(kBase, {"training.sharding=zero4", "training.checkpointing=some", "training.preset=paper",
                          "training.self_attention=tree"});
  EXPECT_NE(e.find("training.sharding: unknown 'zero4'"), std::string::npos) << e;
  EXPECT_NE(e.find("training.checkpointing: unknown 'some'"), std::string::npos) << e;
  EXPECT_NE(e.find("training.preset: unknown preset 'paper'"), std::string::npos) << e;
  EXPECT_NE(e.find("training.self_attention: unknown mechanism 'tree'"), std::string::npos) << e;
  // A group that would straddle nodes unevenly: 12 GPUs as 4 nodes x 3, sp = 4.
  e = problems_of(kBase, {"cluster.gpus_per_node=3", "cluster.inter_node.nics_per_node=3", "training.sp=4"});
  EXPECT_NE(e.find("training.sp: a sequence-parallel group of 4 GPUs would straddle nodes of 3"), std::string::npos)
      << e;
}

TEST(Training, DecoderOnlyModelsHaveNoVisualInput) {
  const Scenario s = resolved(kDecoder);
  EXPECT_EQ(s.frames, 0);
  EXPECT_EQ(s.tokens_per_frame, 0);
  EXPECT_EQ(s.shape.kv_tokens, 65536);  // the layer is self-attention
  EXPECT_EQ(s.shape.mask, Mask::causal);
  EXPECT_EQ(s.shape.heads, 32);
  EXPECT_EQ(s.shape.kv_heads, 8);
  // Explicit 0 is fine; a positive frame count is an error naming the field and line.
  EXPECT_EQ(problems_of(std::string(kDecoder), {"workload.frames=0"}), "");
  std::string yaml = kDecoder;
  yaml.insert(yaml.find("cluster:"), "  frames: 12\n");  // line 4
  const std::string e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:4:3: workload.frames: llama-3-8b is a decoder-only model: it has no visual input"),
            std::string::npos)
      << e;
  // A multimodal model still needs a positive frame count, and defaults to one.
  EXPECT_EQ(resolved("workload:\n  model: mplug-owl3-7b\ncluster:\n  preset: lvxattn-16xa100\n").frames, 1);
}

TEST(Training, EveryModelPresetResolvesAndEstimates) {
  for (const ModelSpec& m : model_presets()) {
    SCOPED_TRACE(m.name);
    const Scenario s = resolved("workload:\n  model: " + m.name + "\n  text_tokens: 4096\ncluster:\n  preset: lvxattn-16xa100\n");
    EXPECT_EQ(s.model.name, m.name);
    for (const IterationEstimate& e : estimate_iteration_all(s, {Pass::fwd_bwd}))
      if (e.feasible) {
        EXPECT_GT(e.time.value(), 0.0);
      } else {
        EXPECT_FALSE(e.reason.empty());
      }
  }
  for (const char* name : {"llama-3.2-90b-vision", "llama-3-8b", "gpt-3b", "gpt-7b"})
    EXPECT_NE(find_model(name), nullptr) << name;
}

// A model described in full: the 11B's own architecture, written as a mapping.
const char* kMapping =
    "workload:\n"                                                                          // 1
    "  model:\n"                                                                           // 2
    "    name: my-mllama\n"                                                                // 3
    "    lm: {layers: 40, hidden: 4096, heads: 32, kv_heads: 8, head_dim: 128, mlp: swiglu,\n"  // 4
    "         mlp_width: 14336, vocab: 128256, embedding_rows: 128264}\n"                  // 5
    "    cross_attention: {kind: cross-layer, layers: [3, 8, 13, 18, 23, 28, 33, 38], heads: 32,\n"  // 6
    "                      kv_heads: 8, head_dim: 128, kv_input: 4096}\n"                  // 7
    "    vision: {layers: 40, width: 1280, heads: 16, mlp_width: 5120, tokens: 6432,\n"    // 8
    "             output_tokens: 6404, output_width: 7680, extra_parameters: 76674579,\n"  // 9
    "             hidden_states_kept: 33, masked_attention: true}\n"                       // 10
    "    projector: {kind: linear, in_width: 7680, out_width: 4096}\n"                     // 11
    "  text_tokens: 1008\n"                                                                // 12
    "  frames: 192\n"                                                                      // 13
    "cluster:\n"                                                                           // 14
    "  preset: lvxattn-16xa100\n";

TEST(Training, AModelMappingIsAWholeModel) {
  const Scenario s = resolved(kMapping);
  EXPECT_EQ(s.model.name, "my-mllama");
  const Architecture& preset = find_model("llama-3.2-11b-vision")->arch;
  EXPECT_DOUBLE_EQ(total_parameters(s.model.arch), total_parameters(preset));
  EXPECT_EQ(s.shape.kv_tokens, 192 * 6404);
  EXPECT_EQ(s.model.cross_attention_layers, 8);
  const Mechanism lv{MechanismKind::lv_xattn, 0};
  EXPECT_DOUBLE_EQ(estimate_iteration(s, lv, Pass::fwd_bwd).time.value(),
                   estimate_iteration(resolved(kBase), lv, Pass::fwd_bwd).time.value());
  // It is written back as a mapping and reads back equal.
  const Scenario again = resolve(parse_scenario_spec(to_yaml(s), "again.yaml"));
  EXPECT_EQ(again.model.name, "my-mllama");
  EXPECT_DOUBLE_EQ(total_parameters(again.model.arch), total_parameters(s.model.arch));
  EXPECT_EQ(again.model.arch.cross.layers, s.model.arch.cross.layers);
  // Naming a preset with --set replaces the mapping.
  EXPECT_EQ(resolved(kMapping, {"workload.model=mplug-owl3-7b"}).model.name, "mplug-owl3-7b");
  // A decoder-only mapping needs only name and lm.
  const Scenario dec = resolved(
      "workload:\n  model:\n    name: tiny\n    lm: {layers: 4, hidden: 512, heads: 8, kv_heads: 8, head_dim: 64,\n"
      "         mlp: gelu, mlp_width: 2048, vocab: 32000}\n  text_tokens: 4096\ncluster:\n  preset: lvxattn-16xa100\n");
  EXPECT_TRUE(dec.model.decoder_only());
  EXPECT_EQ(dec.frames, 0);
}

TEST(Training, AModelMappingWithAMissingFieldNamesIt) {
  // lm without hidden: the section's line, the dotted field.
  std::string yaml = kMapping;
  yaml.replace(yaml.find("hidden: 4096, "), 14, "");
  std::string e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:4:5: workload.model.lm.hidden: missing"), std::string::npos) << e;
  // No projector at all.
  yaml = kMapping;
  yaml.erase(yaml.find("    projector:"), yaml.find("  text_tokens") - yaml.find("    projector:"));
  e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:3:5: workload.model.projector: missing"), std::string::npos) << e;
  // A resampler without its latents: missing for this kind.
  yaml = kMapping;
  yaml.replace(yaml.find("{kind: linear, in_width: 7680, out_width: 4096}"), 47,
               "{kind: resampler, out_width: 4096, layers: 6, heads: 8, head_dim: 64, ffn_width: 4096}");
  e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:11:5: workload.model.projector.latents: missing"), std::string::npos) << e;
  // Unknown keys and bad values name their own line.
  yaml = kMapping;
  yaml.replace(yaml.find("mlp: swiglu"), 11, "mlp: relu2");
  e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:4:80: workload.model.lm.mlp: unknown 'relu2'; known: swiglu, gelu"), std::string::npos)
      << e;
  yaml = kMapping;
  yaml.replace(yaml.find("    name: my-mllama\n"), 20, "    name: my-mllama\n    colour: red\n");
  e = problems_of(yaml);
  EXPECT_NE(e.find("workload.model.colour: unknown field"), std::string::npos) << e;
}

TEST(Training, TrainingKeysRoundTrip) {
  const Scenario a = resolved(kBase, {"training.sp=4", "training.global_batch=8", "training.sharding=zero1",
                                      "training.frozen=vision,projector", "training.self_attention=ulysses",
                                      "training.preset=lv-xattn-paper"});
  const Scenario b = resolve(parse_scenario_spec(to_yaml(a), "again.yaml"));
  for (const Field& f : scenario_fields()) {
    if (f.path.starts_with("training.") || f.path.starts_with("workload.")) {
      EXPECT_EQ(f.get(a), f.get(b)) << f.path;
    }
  }
}

}  // namespace
}  // namespace xattn
