// Scenario files: every shipped scenario resolves, round-trips through YAML, and bad input
// is reported with file, line and field (ARCHITECTURE.md, "Contracts").
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "model/core/error.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"
#include "model/scenario/scenario_file.hpp"

namespace xattn {
namespace {

const std::string kScenarios = std::string(XATTN_SOURCE_DIR) + "/scenarios";

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

const char* kBase =
    "workload:\n"            // line 1
    "  model: llama-3.2-11b-vision\n"
    "  text_tokens: 1008\n"  // line 3
    "  frames: 192\n"        // line 4
    "cluster:\n"             // line 5
    "  preset: lvxattn-16xa100\n";

TEST(Scenario, DefaultScenarioIsThePapersFirstSetUp) {
  Scenario s = load_scenario(kScenarios + "/llama32v-16xa100.yaml");
  // MECHANISMS.md: 16 x A100-80GB as 4 nodes x 4, 25 GB/s NIC per GPU; Llama-3.2-11B-Vision
  // 32 x 128 heads, 8 KV heads, 6404 tokens per image; 192 images, 1008 text tokens.
  EXPECT_EQ(s.ranks(), 16);
  EXPECT_EQ(s.cluster.nodes, 4);
  EXPECT_EQ(s.cluster.gpus_per_node, 4);
  EXPECT_DOUBLE_EQ(s.cluster.inter.bandwidth.value(), 25e9);
  EXPECT_EQ(s.shape.heads, 32);
  EXPECT_EQ(s.shape.kv_heads, 8);
  EXPECT_EQ(s.shape.head_dim, 128);
  EXPECT_EQ(s.shape.q_tokens, 1008);
  EXPECT_EQ(s.shape.kv_tokens, 192 * 6404);
  EXPECT_EQ(s.shape.dtype, DType::fp16);
  EXPECT_EQ(s.cluster.gpu.name, "a100-80gb");
  EXPECT_EQ(s.mechanisms.size(), 4u);
}

TEST(Scenario, EveryShippedScenarioResolvesAndRoundTrips) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kScenarios)) {
    if (entry.path().extension() != ".yaml") continue;
    ++count;
    SCOPED_TRACE(entry.path().string());
    Scenario a = load_scenario(entry.path().string());
    Scenario b = resolve(parse_scenario_spec(to_yaml(a), "roundtrip.yaml"));
    for (const Field& f : scenario_fields()) {
      if (f.path == "cluster.preset") continue;  // written out as the cluster it expands to
      FieldValue va = f.get(a), vb = f.get(b);
      if (std::holds_alternative<double>(va) && std::holds_alternative<double>(vb)) {
        // Unit conversions (GB/s <-> B/s) may move the last bit.
        EXPECT_NEAR(std::get<double>(va), std::get<double>(vb), 1e-12 * std::abs(std::get<double>(va))) << f.path;
      } else {
        EXPECT_EQ(va, vb) << f.path;
      }
    }
  }
  EXPECT_GE(count, 5);
}

TEST(Scenario, OverridesReachEveryLevelIncludingPresetDerivedFields) {
  ScenarioSpec spec = parse_scenario_spec(kBase, "test.yaml");
  apply_override(spec, "workload.frames=384");
  apply_override(spec, "cluster.nodes=8");
  apply_override(spec, "cluster.inter_node.bandwidth_GBps=50");
  apply_override(spec, "workload.kv_heads=4");             // derived from the model preset
  apply_override(spec, "workload.tokens_per_frame=1601");  // one tile instead of four
  apply_override(spec, "mechanisms=lv-xattn,ring");
  Scenario s = resolve(spec);
  EXPECT_EQ(s.shape.kv_tokens, 384 * 1601);
  EXPECT_EQ(s.ranks(), 8 * 4);
  EXPECT_DOUBLE_EQ(s.cluster.inter.bandwidth.value(), 50e9);
  EXPECT_EQ(s.shape.kv_heads, 4);
  ASSERT_EQ(s.mechanisms.size(), 2u);
  EXPECT_EQ(s.mechanisms[1].name(), "ring");
}

TEST(Scenario, UnknownFieldNamesLineAndKnownKeys) {
  std::string e = problems_of(std::string(kBase) + "  gpus: 4\n");  // line 7
  EXPECT_NE(e.find("test.yaml:7:3: cluster.gpus: unknown field"), std::string::npos) << e;
  EXPECT_NE(e.find("gpus_per_node"), std::string::npos) << e;  // lists what would be accepted
}

TEST(Scenario, WrongTypeNamesLineAndField) {
  std::string yaml = kBase;
  yaml.replace(yaml.find("1008"), 4, "many");
  std::string e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:3:16: workload.text_tokens: 'many' is not an integer"), std::string::npos) << e;
}

TEST(Scenario, NonPositiveSizesAreRejected) {
  std::string yaml = kBase;
  const std::size_t at = yaml.find("192");
  ASSERT_NE(at, std::string::npos);
  yaml = yaml.substr(0, at) + "0" + yaml.substr(at + 3);
  std::string e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:4:3: workload.frames: must be positive, got 0"), std::string::npos) << e;
  e = problems_of(kBase, {"workload.batch=-2"});
  EXPECT_NE(e.find("--set workload.batch=-2: workload.batch: must be positive, got -2"), std::string::npos) << e;
}

TEST(Scenario, UnknownPresetsListTheKnownOnes) {
  std::string yaml = kBase;
  yaml.replace(yaml.find("lvxattn-16xa100"), 15, "dgx-b300");
  std::string e = problems_of(yaml);
  EXPECT_NE(e.find("test.yaml:6:3: cluster.preset: unknown cluster preset 'dgx-b300'"), std::string::npos) << e;
  EXPECT_NE(e.find("dgx-h100"), std::string::npos) << e;
  e = problems_of(kBase, {"workload.model=llama-4"});
  EXPECT_NE(e.find("unknown model preset 'llama-4'"), std::string::npos) << e;
}

TEST(Scenario, DegreeThatDoesNotDivideIsRejected) {
  // 3 NICs cannot serve 4 GPUs per node evenly.
  std::string e = problems_of(kBase, {"cluster.inter_node.nics_per_node=3"});
  EXPECT_NE(e.find("cluster.inter_node.nics_per_node: 3 NICs do not divide 4 GPUs per node"), std::string::npos) << e;
  // 32 query heads are not a multiple of 12 key/value heads.
  e = problems_of(kBase, {"workload.kv_heads=12"});
  EXPECT_NE(e.find("workload.kv_heads: query heads (32) must be a multiple of key/value heads (12)"), std::string::npos) << e;
}

TEST(Scenario, OverrideOfMissingPathIsAnError) {
  std::string e = problems_of(kBase, {"cluster.inter_node.bandwith_GBps=50"});
  EXPECT_NE(e.find("--set cluster.inter_node.bandwith_GBps=50: cluster.inter_node.bandwith_GBps: no such field"),
            std::string::npos) << e;
  EXPECT_NE(e.find("bandwidth_GBps"), std::string::npos) << e;  // suggests the keys under inter_node
  e = problems_of(kBase, {"frames"});
  EXPECT_NE(e.find("expected KEY=VALUE"), std::string::npos) << e;
}

TEST(Scenario, AllProblemsAreReportedAtOnce) {
  std::string e = problems_of(
      "workload:\n  model: nope\n  batch: 0\n  dtype: fp8\ncluster:\n  gpu: a100-80gb\n  nodes: 2\n  colour: red\n");
  // colour (unknown field) is a read error and is reported before resolution runs.
  EXPECT_NE(e.find("cluster.colour"), std::string::npos) << e;
  e = problems_of("workload:\n  model: nope\n  batch: 0\n  dtype: fp8\ncluster:\n  gpu: a100-80gb\n  nodes: 2\n");
  EXPECT_NE(e.find("test.yaml:2:3: workload.model"), std::string::npos) << e;
  EXPECT_NE(e.find("test.yaml:3:3: workload.batch"), std::string::npos) << e;
  EXPECT_NE(e.find("test.yaml:4:3: workload.dtype"), std::string::npos) << e;
  // Two nodes need an inter-node bandwidth, which no preset supplied.
  EXPECT_NE(e.find("cluster.inter_node.bandwidth_GBps: must be positive with 2 nodes"), std::string::npos) << e;
}

TEST(Scenario, MalformedYamlNamesTheLine) {
  std::string e = problems_of("workload:\n  model: [unclosed\n");
  EXPECT_NE(e.find("test.yaml:"), std::string::npos) << e;
  EXPECT_NE(e.find("malformed YAML"), std::string::npos) << e;
}

TEST(Scenario, AKeyThatIsAMappingIsBadInput) {
  // YAML's complex key ('? '): a mapping as a key. yaml-cpp reads it; as a name it would throw
  // its own conversion error (exit 1, no file named; found by scenario_fuzz).
  const std::string e = problems_of("workload:\n  ? {vision: 1}\n  : 2\ncluster:\n  preset: lvxattn-16xa100\n");
  EXPECT_NE(e.find("test.yaml:2:"), std::string::npos) << e;
  EXPECT_NE(e.find("workload: a key is a name, not a mapping or a list"), std::string::npos) << e;
}

TEST(Scenario, CausalMaskNeedsSelfAttention) {
  std::string e = problems_of(kBase, {"workload.mask=causal"});
  EXPECT_NE(e.find("a causal mask is for self-attention"), std::string::npos) << e;
  EXPECT_EQ(problems_of(kBase, {"workload.mask=causal", "workload.frames=1", "workload.tokens_per_frame=1008"}), "");
}

TEST(Presets, FiguresMatchTheirSources) {
  // NVIDIA A100 datasheet: 312 TFLOP/s dense fp16, 2,039 GB/s (80GB SXM).
  const GpuSpec* a100 = find_gpu("a100-80gb");
  ASSERT_NE(a100, nullptr);
  EXPECT_DOUBLE_EQ(a100->peak_fp16.value(), 312e12);
  EXPECT_DOUBLE_EQ(a100->hbm.value(), 2039e9);
  // Llama-3.2-11B-Vision config: 8 cross-attention layers among 40; 4 tiles x 1601 tokens.
  const ModelSpec* llama = find_model("llama-3.2-11b-vision");
  ASSERT_NE(llama, nullptr);
  EXPECT_EQ(llama->cross_attention_layers, 8);
  EXPECT_EQ(llama->layers, 40);
  EXPECT_EQ(llama->tokens_per_frame, 4 * 1601);
  // OpenFlamingo-3B: a cross-attention layer after every one of MPT-1B's 24 layers.
  EXPECT_EQ(find_model("openflamingo-3b")->cross_attention_layers, 24);
  // DGX H100: 450 GB/s per direction NVLink, 400 Gb/s = 50 GB/s per NIC, 8 GPUs.
  const ClusterPreset* dgx = find_cluster("dgx-h100");
  ASSERT_NE(dgx, nullptr);
  EXPECT_DOUBLE_EQ(dgx->cluster.intra.bandwidth.value(), 450e9);
  EXPECT_DOUBLE_EQ(dgx->cluster.inter.bandwidth.value(), 50e9);
  EXPECT_EQ(dgx->cluster.gpus_per_node, 8);
}

TEST(Scenario, NcclFigurePerNicFollowsThePresetAndTheKey) {
  // azure-ndv4 carries Azure's 18.0 GB/s per NIC (of a 25 GB/s line); lvxattn-16xa100 none.
  const std::string ndv4 =
      "workload:\n  model: llama-3.2-11b-vision\n  text_tokens: 1008\n  frames: 192\ncluster:\n  preset: azure-ndv4\n";
  Scenario a = resolve(parse_scenario_spec(ndv4, "test.yaml"));
  ASSERT_TRUE(a.cluster.nccl_per_nic);
  EXPECT_DOUBLE_EQ(to_gigabytes_per_second(*a.cluster.nccl_per_nic), 18.0);
  EXPECT_FALSE(resolve(parse_scenario_spec(kBase, "test.yaml")).cluster.nccl_per_nic);
  // Another NIC keeps the preset's share: 50 GB/s x 18/25 = 36 GB/s.
  ScenarioSpec faster = parse_scenario_spec(ndv4, "test.yaml");
  apply_override(faster, "cluster.inter_node.bandwidth_GBps=50");
  EXPECT_DOUBLE_EQ(to_gigabytes_per_second(*resolve(faster).cluster.nccl_per_nic), 36.0);
  // The key sets it, 0 clears it, and more than the NIC carries is refused by name.
  ScenarioSpec set = parse_scenario_spec(kBase, "test.yaml");
  apply_override(set, "cluster.inter_node.nccl_bandwidth_GBps=20");
  Scenario b = resolve(set);
  EXPECT_DOUBLE_EQ(to_gigabytes_per_second(*b.cluster.nccl_per_nic), 20.0);
  EXPECT_DOUBLE_EQ(to_gigabytes_per_second(*resolve(parse_scenario_spec(to_yaml(b), "again.yaml")).cluster.nccl_per_nic),
                   20.0);
  ScenarioSpec cleared = parse_scenario_spec(ndv4, "test.yaml");
  apply_override(cleared, "cluster.inter_node.nccl_bandwidth_GBps=0");
  EXPECT_FALSE(resolve(cleared).cluster.nccl_per_nic);
  const std::string why = problems_of(kBase, {"cluster.inter_node.nccl_bandwidth_GBps=30"});
  EXPECT_NE(why.find("cluster.inter_node.nccl_bandwidth_GBps"), std::string::npos) << why;
  EXPECT_NE(why.find("more than the NIC carries (25 GB/s"), std::string::npos) << why;
}

TEST(Scenario, FatTreeKeysResolveIntoTheCluster) {
  // lvxattn-16xa100 is 4 nodes on one switch; the keys put them under two leaves of two
  // nodes with 3:1 oversubscribed uplinks.
  ScenarioSpec spec = parse_scenario_spec(std::string(kBase) +
                                              "  inter_node:\n"
                                              "    fabric: fat-tree\n"
                                              "    nodes_per_leaf: 2\n"
                                              "    oversubscription: 3\n",
                                          "test.yaml");
  Scenario s = resolve(spec);
  EXPECT_EQ(s.cluster.inter_kind, InterFabric::fat_tree);
  EXPECT_EQ(s.cluster.nodes_per_leaf, 2);
  EXPECT_DOUBLE_EQ(s.cluster.oversubscription, 3.0);
  // A preset keeps its single switch when the keys are absent.
  EXPECT_EQ(resolve(parse_scenario_spec(kBase, "test.yaml")).cluster.inter_kind, InterFabric::single_switch);
  // And the keys round-trip through YAML.
  Scenario again = resolve(parse_scenario_spec(to_yaml(s), "again.yaml"));
  EXPECT_EQ(again.cluster.inter_kind, InterFabric::fat_tree);
  EXPECT_DOUBLE_EQ(again.cluster.oversubscription, 3.0);
}

TEST(Scenario, BadFatTreeKeysNameLineAndField) {
  std::string e = problems_of(std::string(kBase) +
                              "  inter_node:\n"         // line 7
                              "    fabric: dragonfly\n"  // line 8
                              "    nodes_per_leaf: 0\n"  // line 9
                              "    oversubscription: 0.5\n");  // line 10
  EXPECT_NE(e.find("test.yaml:8:5: cluster.inter_node.fabric: unknown fabric 'dragonfly'"), std::string::npos) << e;
  EXPECT_NE(e.find("test.yaml:9:5: cluster.inter_node.nodes_per_leaf: must be positive"), std::string::npos) << e;
  EXPECT_NE(e.find("test.yaml:10:5: cluster.inter_node.oversubscription: must be at least 1"), std::string::npos) << e;
}

}  // namespace
}  // namespace xattn
