// Memory of one training step per GPU (docs/model.md §12) by hand: model states per
// sharding stage, what each layer kind keeps under each checkpointing mode, the paper
// harness's figures (ITERATION.md §3), and the peak.
#include <gtest/gtest.h>

#include "model/iteration.hpp"
#include "model/iteration_memory.hpp"
#include "model/presets.hpp"
#include "model/scenario.hpp"

namespace xattn {
namespace {

Scenario llama_on_16(std::int64_t frames = 192, std::int64_t text = 1008) {
  Scenario s;
  s.model = *find_model("llama-3.2-11b-vision");
  s.batch = 1;
  s.text_tokens = text;
  s.frames = frames;
  s.tokens_per_frame = 6404;
  s.shape = AttentionShape{1, 32, 8, 128, text, frames * 6404, DType::fp16, Mask::dense};
  s.cluster = find_cluster("lvxattn-16xa100")->cluster;
  s.mechanisms = default_mechanisms();
  return s;
}

// Llama-3.2-11B-Vision's parts (tests/model/architecture_test.cpp derives them).
constexpr double kText = 9775192080.0;       // 32 SA + 8 CA layers, embedding, final norm, LM head
constexpr double kLmRoot = 525369344.0 + 525336576.0 + 4096.0;
constexpr double kVision = 863567379.0;
constexpr double kVisionRoot = 76674579.0;   // its embeddings, FSDP's second root
constexpr double kProjector = 31461376.0;
constexpr double kAll = kText + kVision + kProjector;

TEST(IterationMemory, ModelStatesPerShardingStage) {
  // Vision frozen (the default): Ψ_trained = text + projector = 9,806,653,456; N = 16; 2 B
  // per bf16/fp16 parameter and gradient, 12 B of fp32 master, m and v per trained one.
  Scenario s = llama_on_16();
  const double trained = kText + kProjector, N = 16;
  auto states = [&](Sharding sh) {
    s.training.sharding = sh;
    return model_states(s, iteration_setup(s));
  };
  // zero3 = 16·Ψ_trained/N + 2·Ψ_frozen/N, plus the root units (LM: embedding, final norm,
  // LM head; vision: its embeddings), which FSDP keeps unsharded the whole step.
  ModelStates z3 = states(Sharding::zero3);
  EXPECT_DOUBLE_EQ(z3.parameters.value(), 2 * kAll / N + 2 * (kLmRoot + kVisionRoot));
  EXPECT_DOUBLE_EQ(z3.gradients.value(), 2 * trained / N);
  EXPECT_DOUBLE_EQ(z3.optimizer.value(), 12 * trained / N);
  EXPECT_NEAR(z3.total().value(), 16 * trained / N + 2 * kVision / N + 2 * (kLmRoot + kVisionRoot), 1.0);
  // zero2 = 2Ψ + 14·Ψ_trained/N; zero1 = 2Ψ + 2·Ψ_trained + 12·Ψ_trained/N; DDP 2Ψ + 14·Ψ_trained.
  ModelStates z2 = states(Sharding::zero2);
  EXPECT_DOUBLE_EQ(z2.total().value(), 2 * kAll + 14 * trained / N);
  ModelStates z1 = states(Sharding::zero1);
  EXPECT_DOUBLE_EQ(z1.total().value(), 2 * kAll + 2 * trained + 12 * trained / N);
  ModelStates ddp = states(Sharding::none);
  EXPECT_DOUBLE_EQ(ddp.total().value(), 2 * kAll + 14 * trained);
  // Nothing trains but the projector: the LM is 2 B per parameter and nothing else.
  s.training.sharding = Sharding::none;
  s.training.frozen.add(ModelPart::lm);
  s.training.frozen.add(ModelPart::cross_attention);
  EXPECT_DOUBLE_EQ(model_states(s, iteration_setup(s)).total().value(), 2 * kAll + 14 * kProjector);
}

TEST(IterationMemory, ThePaperHarnessStates) {
  // ITERATION.md §3.1, code:LV default on 16 GPUs: fp16, no optimizer; a 1.33 GB parameter
  // shard, a 1.22 GB LM gradient shard (the projector gets none), and the LM root's
  // 1.05B parameters = 2.1 GB unsharded on every GPU (plus the tower's embeddings, 0.15 GB;
  // the unwrapped projector is replicated).
  Scenario s = llama_on_16();
  s.training.preset = TrainingPreset::lv_xattn_paper;
  s.training.optimizer_step = false;
  s.training.checkpointing = Checkpointing::none;
  const ModelStates m = model_states(s, iteration_setup(s));
  const double shard = 2 * (kAll - kProjector) / 16;
  EXPECT_NEAR(2 * kAll / 16 / 1e9, 1.33, 0.005);
  EXPECT_NEAR(2 * kLmRoot / 1e9, 2.1, 0.005);
  EXPECT_DOUBLE_EQ(m.parameters.value(), shard + 2 * (kLmRoot + kVisionRoot) + 2 * kProjector);
  EXPECT_NEAR(m.gradients.value() / 1e9, 1.22, 0.005);
  EXPECT_EQ(m.optimizer.value(), 0.0);
}

TEST(IterationMemory, WhatEachLayerKindKeeps) {
  // 63 text tokens and 76,848 visual tokens per GPU (1008 and 192 x 6404 over 16), b = 2.
  Scenario s = llama_on_16();
  IterationSetup u = iteration_setup(s);
  ASSERT_EQ(u.rows_text, 63);
  ASSERT_EQ(u.rows_visual, 76848);
  const double st = 63, h = 4096, f = 14336;
  // A Llama layer, nothing recomputed: (3h + 2·H·d + 2·H_kv·d + h + 3f)·b·s + 4·s·H
  // = (12288 + 8192 + 2048 + 4096 + 43008)·2·63 + 4·63·32 = 34·s·h bytes + the LSE.
  const double llama = (3 * h + 2 * 4096 + 2 * 1024 + h + 3 * f) * 2 * st + 4 * st * 32;
  EXPECT_DOUBLE_EQ(llama, 34 * st * h + 4 * st * 32);
  EXPECT_DOUBLE_EQ(saved_activations(s, u, LmUnit::plain, Checkpointing::none).value(), llama);
  // after-attention: the input and O with the LSE; full: the input.
  EXPECT_DOUBLE_EQ(saved_activations(s, u, LmUnit::plain, Checkpointing::after_attention).value(),
                   2 * st * (h + 4096) + 4 * st * 32);
  EXPECT_DOUBLE_EQ(saved_activations(s, u, LmUnit::plain, Checkpointing::full).value(), 2 * st * h);
  // A CA layer without recomputation keeps, besides its text-side tensors, this GPU's K and
  // V of the visual tokens: 2·2·76,848·8·128 B = 0.31 GB (GQA-native).
  const double kv = 2.0 * 2 * 76848 * 8 * 128;
  const double ca_text = (3 * h + 2 * 4096 + h + 3 * f) * 2 * st + 4 * st * 32;
  EXPECT_DOUBLE_EQ(saved_activations(s, u, LmUnit::cross, Checkpointing::none).value(), ca_text + kv);
  // In the paper harness K/V are repeated to 32 heads (1.26 GB per layer, ITERATION.md
  // §3.2), but its CA wrapper keeps only x, O and LSE of the attention: no Q, no K/V.
  s.training.preset = TrainingPreset::lv_xattn_paper;
  u = iteration_setup(s);
  EXPECT_NEAR(2.0 * 2 * 76848 * 32 * 128 / 1e9, 1.26, 0.005);
  EXPECT_DOUBLE_EQ(saved_activations(s, u, LmUnit::cross, Checkpointing::none).value(),
                   (3 * h + 4096 + h + 3 * f) * 2 * st + 4 * st * 32);
}

TEST(IterationMemory, HandComputedPeakOfASmallModel) {
  // Two layers of h = 1024, 8 / 2 heads of 128, SwiGLU 4096, vocabulary 32000, untied; one
  // GPU (nothing to shard), bf16, nothing recomputed, 1024 tokens.
  Scenario s;
  Architecture a;
  a.lm = LanguageModelSpec{2, 1024, 8, 2, 128, MlpSpec{MlpKind::swiglu, 4096, false}, false, false, NormKind::rms,
                           32000, 32000, false};
  s.model = describe_model("hand", a, "test");
  s.text_tokens = 1024;
  s.shape = AttentionShape{1, 8, 2, 128, 1024, 1024, DType::bf16, Mask::causal};
  s.cluster.gpu = *find_gpu("a100-80gb");
  s.training.checkpointing = Checkpointing::none;
  // Ψ: a layer q 1024² + k, v 2·1024·256 + o 1024² + MLP 3·1024·4096 + norms 2048 =
  // 15,206,400; embedding and LM head 2·32000·1024 + final norm 1024 = 65,537,024;
  // Ψ = 95,949,824, all trained: 16 B each.
  const double psi = 2 * 15206400.0 + 65537024.0;
  EXPECT_DOUBLE_EQ(total_parameters(s.model.arch), psi);
  // Each layer keeps 2·1024·(3·1024 + 2·1024 + 2·256 + 1024 + 3·4096) + 4·1024·8 =
  // 38,830,080 B; the logits and their fp32 softmax 1024·32000·(2 + 4) = 196,608,000 B are
  // the largest transient (the ring's backward buffers on one GPU are 21 MB).
  const double layer = 2.0 * 1024 * (3 * 1024 + 2 * 1024 + 2 * 256 + 1024 + 3 * 4096) + 4.0 * 1024 * 8;
  EXPECT_DOUBLE_EQ(layer, 38830080.0);
  const IterationEstimate e = estimate_iteration(s, std::nullopt, Pass::fwd_bwd);
  EXPECT_DOUBLE_EQ(e.memory.parameters.value(), 2 * psi);
  EXPECT_DOUBLE_EQ(e.memory.gradients.value(), 2 * psi);
  EXPECT_DOUBLE_EQ(e.memory.optimizer.value(), 12 * psi);
  EXPECT_DOUBLE_EQ(e.memory.activations.value(), 2 * layer);
  EXPECT_DOUBLE_EQ(e.memory.transient.value(), 1024.0 * 32000 * 6);
  EXPECT_DOUBLE_EQ(e.peak_memory.value(), 16 * psi + 2 * layer + 1024.0 * 32000 * 6);
  EXPECT_TRUE(e.fits);
}

TEST(IterationMemory, TheVisionForwardCanBeThePeak) {
  // ITERATION.md §3.3, code:LV default shape: the Mllama tower's forward holds 33 hidden
  // states of 12 x 6432 x 1280 (6.5 GB) and a 12 x 6432² fp16 mask (1 GB).
  Scenario s = llama_on_16();
  const IterationEstimate e = estimate_iteration(s, Mechanism{MechanismKind::lv_xattn, 0}, Pass::fwd_bwd);
  const double kept = 12.0 * 33 * 6432 * 1280 * 2, mask = 12.0 * 6432 * 6432 * 2;
  EXPECT_NEAR(kept / 1e9, 6.5, 0.05);
  EXPECT_NEAR(mask / 1e9, 1.0, 0.01);
  EXPECT_DOUBLE_EQ(e.memory.transient.value(), kept + mask + 12.0 * 6432 * (4 * 1280 + 5120) * 2);
  EXPECT_EQ(e.memory.activations.value(), 0.0);  // the LM has not run yet
}

TEST(IterationMemory, DdpOfAnEightBillionModelDoesNotFitAnA100) {
  // 16 B per parameter of 8.03B is 128 GB, replicated by DDP; ZeRO-3 over 32 GPUs fits.
  Scenario s;
  s.model = *find_model("llama-3-8b");
  s.text_tokens = 8192;
  s.shape = AttentionShape{1, 32, 8, 128, 8192, 8192, DType::bf16, Mask::causal};
  s.cluster = find_cluster("lvxattn-16xa100")->cluster;
  s.cluster.nodes = 8;
  s.training.sharding = Sharding::none;
  s.training.sp = 4;
  EXPECT_FALSE(estimate_iteration(s, std::nullopt, Pass::fwd_bwd).fits);
  s.training.sharding = Sharding::zero3;
  EXPECT_TRUE(estimate_iteration(s, std::nullopt, Pass::fwd_bwd).fits);
}

}  // namespace
}  // namespace xattn
