// Preset figures and where they come from.
//
// Models: the published Hugging Face configs (config.json) of each checkpoint, and the
// model code for values that are constructor defaults rather than config entries.
// GPUs: NVIDIA datasheets (dense tensor-core FLOP/s, i.e. without 2:4 sparsity).
// Clusters: the LV-XAttn paper's three set-ups as MECHANISMS.md reads them, plus
// NVIDIA's DGX H100 and Azure's ND A100 v4.
#include "model/presets.hpp"

#include <array>
#include <cctype>
#include <utility>
#include <vector>

namespace xattn {
namespace {

constexpr double kMiB = 1048576.0;

// ---- models -----------------------------------------------------------------------
//
// Each model is written as its whole architecture (model/architecture.hpp); its layer view
// (the cross-attention layer's shape, as layer scope reads it) is derived from that by
// describe_model(). Figures marked † were not checked against the model's own files
// (ITERATION.md §0 uses the same mark); docs/model.md §10 derives the parameter totals the
// tests check.

// The Mllama vision tower (Llama-3.2-11B- and 90B-Vision share it): HF
// configuration_mllama.py MllamaVisionConfig and the checkpoints' vision_config:
// hidden_size 1280, attention_heads 16, intermediate_size 5120 (GELU, biased fc1/fc2;
// q, k, v, o without bias), num_hidden_layers 32 local + num_global_layers 8, image_size
// 560, patch_size 14 -> 40 x 40 = 1600 patches + 1 class token = 1601 tokens per tile,
// padded to 1608 in the encoder (modeling_mllama.py); max_num_tiles 4 -> 6432 tokens per
// image, attended jointly under an explicit mask; intermediate_layers_indices
// [3, 7, 15, 23, 30] -> output 5 x 1280 + 1280 = 7680 features, sliced to 4 x 1601 = 6404
// tokens per image. The forward keeps the 32 local layers' outputs + its input = 33
// hidden states (output_hidden_states). Parameters outside the layers: patch embedding
// conv 3·14·14·1280 = 752,640 (no bias); class embedding 1,280; gated position embedding
// 1601·1280 + 1 = 2,049,281; gated tile position embedding 9 aspect ratios · 4 tiles ·
// 1601 · 1280 = 73,774,080; pre- and post-tile position embeddings 9 · 4·1280 + 1 = 46,081
// each; layernorm_pre and layernorm_post 2·2·1280 = 5,120; the 8 global layers' two tanh
// gates = 16. Sum 76,674,579.
VisionSpec mllama_tower() {
  VisionSpec v;
  v.layers = 40;
  v.width = 1280;
  v.heads = 16;
  v.mlp = MlpSpec{MlpKind::gelu, 5120, true};
  v.qkv_bias = false;
  v.tokens = 4 * 1608;
  v.output_tokens = 4 * 1601;
  v.output_width = 7680;
  v.extra_parameters = 752640 + 1280 + 2049281 + 73774080 + 46081 + 46081 + 5120 + 16;
  v.hidden_states_kept = 33;
  v.masked_attention = true;
  return v;
}

// Llama-3.2-Vision's text model with its cross-attention layers (HF MllamaTextConfig and
// the checkpoints' text_config): SwiGLU, no biases, RMSNorm; vocab_size 128256 (the LM
// head); the input embedding has vocab + 8 = 128264 rows (modeling_mllama.py); untied.
// A cross-attention layer replaces a self-attention layer: q_proj, k_proj and v_proj
// (reading the projected visual states, width = hidden), o_proj, per-head q_norm and
// k_norm, two tanh gates, and the same SwiGLU MLP. The projector is
// Linear(vision_output_dim 7680, hidden, bias).
Architecture mllama(int layers, std::int64_t hidden, std::int64_t heads, std::int64_t mlp_width,
                    std::vector<int> cross_layers) {
  Architecture a;
  a.lm = LanguageModelSpec{layers, hidden, heads, 8, 128, MlpSpec{MlpKind::swiglu, mlp_width, false}, false, false,
                           NormKind::rms, 128256, 128264, false};
  a.cross.kind = CrossKind::cross_layer;
  a.cross.layers = std::move(cross_layers);
  a.cross.heads = heads;
  a.cross.kv_heads = 8;
  a.cross.head_dim = 128;
  a.cross.kv_input = hidden;
  a.cross.mlp = a.lm.mlp;
  a.vision = mllama_tower();
  a.projector.kind = ProjectorKind::linear;
  a.projector.in_width = 7680;
  a.projector.out_width = hidden;
  return a;
}

std::vector<int> every(int first, int step, int count) {
  std::vector<int> out;
  for (int i = 0; i < count; ++i) out.push_back(first + i * step);
  return out;
}

// SigLIP-so400m-patch14-384, mPLUG-Owl3's vision encoder (mPLUG-Owl3-7B-240728
// config.json vision_config; HF SiglipVisionConfig): 27 layers, hidden 1152, 16 heads,
// intermediate 4304 (GELU), biased q, k, v, o and fc1, fc2, LayerNorm; 384 px / patch 14
// -> 27 x 27 = 729 tokens per frame, no class token; output = the penultimate hidden
// state, so the forward keeps all 27 + 1 hidden states †. Outside the layers: patch conv
// 3·14·14·1152 + 1152 = 678,528; position embedding 729·1152 = 839,808; post_layernorm
// 2·1152 = 2,304.
VisionSpec siglip_so400m() {
  VisionSpec v;
  v.layers = 27;
  v.width = 1152;
  v.heads = 16;
  v.mlp = MlpSpec{MlpKind::gelu, 4304, true};
  v.qkv_bias = true;
  v.tokens = 729;
  v.output_tokens = 729;
  v.output_width = 1152;
  v.extra_parameters = 678528 + 839808 + 2304;
  v.hidden_states_kept = 28;
  return v;
}

// mPLUG-Owl3 on a Qwen2 LM: hyper-attention layers are Qwen2 decoder layers that also
// attend to the visual K/V made by v_kv_proj (Linear(hidden, 2·H_kv·d), biased) with a
// per-head gate Linear(d, d) (modeling_hyper_qwen2.py); the projector is
// Linear(1152, hidden, bias).
Architecture owl3(LanguageModelSpec lm, std::vector<int> hyper_layers) {
  Architecture a;
  a.lm = lm;
  a.cross.kind = CrossKind::hyper;
  a.cross.layers = std::move(hyper_layers);
  a.cross.heads = lm.heads;
  a.cross.kv_heads = lm.kv_heads;
  a.cross.head_dim = lm.head_dim;
  a.cross.kv_input = lm.hidden;
  a.cross.kv_bias = true;
  a.vision = siglip_so400m();
  a.projector.kind = ProjectorKind::linear;
  a.projector.in_width = 1152;
  a.projector.out_width = lm.hidden;
  return a;
}

// CLIP ViT-L/14 at 224 px (OpenCLIP "ViT-L-14", OpenFlamingo's vision encoder): 24
// layers, width 1024, 16 heads x 64, MLP 4096 (QuickGELU), biased; 256 patch tokens + 1
// class token = 257; OpenFlamingo hands the resampler the 256 patch tokens. Outside the
// layers: patch conv 3·14·14·1024 = 602,112 (no bias), class embedding 1,024, position
// embedding 257·1024 = 263,168, ln_pre and ln_post 2·2·1024 = 4,096, output projection
// 1024·768 = 786,432 (loaded, unused for tokens).
VisionSpec clip_vit_l14() {
  VisionSpec v;
  v.layers = 24;
  v.width = 1024;
  v.heads = 16;
  v.mlp = MlpSpec{MlpKind::gelu, 4096, true};
  v.qkv_bias = true;
  v.tokens = 257;
  v.output_tokens = 256;
  v.output_width = 1024;
  v.extra_parameters = 602112 + 1024 + 263168 + 4096 + 786432;
  return v;
}

// OpenFlamingo (mlfoundations/open_flamingo src/helpers.py, flamingo_lm.py, factory.py):
// MPT decoder layers (pre-LayerNorm without bias, fused Wqkv h -> 3h, out h -> h, GELU FFN
// h -> 4h -> h, no biases, ALiBi, tied embeddings; vocab 50432 after MPT's padding †); a
// GatedCrossAttentionBlock before the decoder layers at (i + 1) % every == 0: LayerNorm,
// to_q h -> 8·64, to_kv 1024 -> 2·8·64, to_out 8·64 -> h (no biases), LayerNorm + FFN
// h -> 4h -> h (GELU, no biases), two tanh gates; a Perceiver resampler of 6 layers
// (dim 1024, 8 heads x 64, FFN x4, 64 latents) over CLIP's patch tokens.
Architecture openflamingo(int layers, std::int64_t hidden, std::int64_t heads, int every_n) {
  Architecture a;
  a.lm = LanguageModelSpec{layers, hidden, heads, heads, hidden / heads, MlpSpec{MlpKind::gelu, 4 * hidden, false},
                           false, false, NormKind::layer_no_bias, 50432, 50432, true};
  a.cross.kind = CrossKind::gated_block;
  a.cross.layers = every(every_n - 1, every_n, layers / every_n);
  a.cross.heads = 8;
  a.cross.kv_heads = 8;
  a.cross.head_dim = 64;
  a.cross.kv_input = 1024;
  a.cross.mlp = MlpSpec{MlpKind::gelu, 4 * hidden, false};
  a.vision = clip_vit_l14();
  a.projector.kind = ProjectorKind::resampler;
  a.projector.in_width = 1024;
  a.projector.out_width = 1024;
  a.projector.layers = 6;
  a.projector.heads = 8;
  a.projector.head_dim = 64;
  a.projector.latents = 64;
  a.projector.ffn_width = 4096;
  return a;
}

// A decoder-only LM: no cross-attention, no vision encoder, no projector.
Architecture decoder_only(LanguageModelSpec lm) {
  Architecture a;
  a.lm = lm;
  return a;
}

const std::vector<ModelSpec>& model_table() {
  static const std::vector<ModelSpec> table = {
      // meta-llama/Llama-3.2-11B-Vision config.json: text_config hidden_size 4096,
      // num_hidden_layers 40, num_attention_heads 32, num_key_value_heads 8 (head dim
      // 4096/32 = 128), intermediate_size 14336, vocab_size 128256,
      // cross_attention_layers [3, 8, 13, 18, 23, 28, 33, 38]; vision_config as
      // mllama_tower(). 10.670B parameters (docs/model.md §10.1).
      describe_model("llama-3.2-11b-vision", mllama(40, 4096, 32, 14336, every(3, 5, 8)),
                     "meta-llama/Llama-3.2-11B-Vision config.json; HF modeling_mllama.py"),
      // meta-llama/Llama-3.2-90B-Vision(-Instruct) config.json, as mirrored in public
      // fine-tunes of it: text_config hidden_size 8192, num_hidden_layers 100,
      // num_attention_heads 64, intermediate_size 28672, cross_attention_layers [3, 8,
      // ..., 98] (20); num_key_value_heads is not written there, so MllamaTextConfig's
      // default 8 applies †; the embedding's + 8 rows as in 11B †. The vision tower is
      // 11B's (GGUF metadata of the 90B projector: 32 + 8 layers, width 1280, projection
      // to 8192).
      describe_model("llama-3.2-90b-vision", mllama(100, 8192, 64, 28672, every(3, 5, 20)),
                     "meta-llama/Llama-3.2-90B-Vision config.json (kv heads: MllamaTextConfig default)"),
      // mPLUG/mPLUG-Owl3-7B-240728 config.json: Qwen2-7B language model (hidden_size
      // 3584, num_hidden_layers 28, num_attention_heads 28, num_key_value_heads 4, head
      // dim 128, intermediate_size 18944, vocab_size 151851, untied, q/k/v biased);
      // hyper_layers [1, 9, 17, 25] (1-based: 0-based 0, 8, 16, 24).
      describe_model("mplug-owl3-7b",
                     owl3(LanguageModelSpec{28, 3584, 28, 4, 128, MlpSpec{MlpKind::swiglu, 18944, false}, true, false,
                                            NormKind::rms, 151851, 151851, false},
                          {0, 8, 16, 24}),
                     "mPLUG/mPLUG-Owl3-7B-240728 config.json; Qwen2-7B config.json"),
      // mPLUG-Owl3-2B on Qwen2-1.5B †: hidden_size 1536, num_hidden_layers 28,
      // num_attention_heads 12, num_key_value_heads 2, intermediate_size 8960,
      // vocab_size 151936, tied embeddings; taken from a Qwen2-1.5B config, not the
      // checkpoint. Hyper-attention layers assumed at the 7B's positions †; the same
      // SigLIP encoder †; projector Linear(1152, 1536) †.
      describe_model("mplug-owl3-2b",
                     owl3(LanguageModelSpec{28, 1536, 12, 2, 128, MlpSpec{MlpKind::swiglu, 8960, false}, true, false,
                                            NormKind::rms, 151936, 151936, true},
                          {0, 8, 16, 24}),
                     "Qwen2-1.5B config.json; hyper-attention layer count assumed equal to the 7B's"),
      // openflamingo/OpenFlamingo-9B-vitl-mpt7b: MPT-7B (d_model 4096, n_layers 32,
      // n_heads 32), cross_attn_every_n_layers 4 -> 8 gated cross-attention blocks before
      // layers 3, 7, ..., 31.
      describe_model("openflamingo-9b", openflamingo(32, 4096, 32, 4),
                     "openflamingo/OpenFlamingo-9B-vitl-mpt7b config; open_flamingo helpers.py defaults"),
      // openflamingo/OpenFlamingo-3B-vitl-mpt1b: MPT-1B-RedPajama (d_model 2048,
      // n_layers 24, n_heads 16), cross_attn_every_n_layers 1 -> a block before every
      // layer.
      describe_model("openflamingo-3b", openflamingo(24, 2048, 16, 1),
                     "openflamingo/OpenFlamingo-3B-vitl-mpt1b config; open_flamingo helpers.py defaults"),
      // meta-llama/Meta-Llama-3-8B config.json: hidden_size 4096, num_hidden_layers 32,
      // num_attention_heads 32, num_key_value_heads 8, intermediate_size 14336,
      // vocab_size 128256, untied, RMSNorm, no biases.
      describe_model("llama-3-8b",
                     decoder_only(LanguageModelSpec{32, 4096, 32, 8, 128, MlpSpec{MlpKind::swiglu, 14336, false}, false,
                                                    false, NormKind::rms, 128256, 128256, false}),
                     "meta-llama/Meta-Llama-3-8B config.json"),
      // WallFacer (arXiv 2407.00611 v2) §5, its H100 runs: 32 layers, hidden 4096, 32
      // heads x 128. A GPT block (4h GELU MLP, biases, LayerNorm) †, GPT-2's vocabulary
      // 50257, untied †.
      describe_model("gpt-7b",
                     decoder_only(LanguageModelSpec{32, 4096, 32, 32, 128, MlpSpec{MlpKind::gelu, 16384, true}, true,
                                                    true, NormKind::layer, 50257, 50257, false}),
                     "WallFacer (arXiv 2407.00611 v2) §5; MLP, biases and vocabulary assumed (GPT-2)"),
      // WallFacer v2 §5, its A100-40GB runs: 12 layers, hidden 4096, 16 heads x 256 (v4
      // swaps these to 16 layers / 12 heads; 4096/12 is no integer head dim, so v2's
      // reading); GPT block and vocabulary as gpt-7b †.
      describe_model("gpt-3b",
                     decoder_only(LanguageModelSpec{12, 4096, 16, 16, 256, MlpSpec{MlpKind::gelu, 16384, true}, true,
                                                    true, NormKind::layer, 50257, 50257, false}),
                     "WallFacer (arXiv 2407.00611 v2) §5; MLP, biases and vocabulary assumed (GPT-2)"),
  };
  return table;
}

// Memory capacities are the usable sizes nvidia-smi reports (binary units), not the
// marketing round numbers.
const std::array<GpuSpec, 5> kGpus = {{
    // NVIDIA A100 Tensor Core GPU datasheet: FP16/BF16 tensor 312 TFLOPS dense, FP32
    // 19.5 TFLOPS, A100 40GB SXM 1,555 GB/s HBM2; 108 SMs.
    {"a100-40gb", teraflops_per_second(312), teraflops_per_second(19.5),
     gigabytes_per_second(1555), Bytes(40960 * kMiB), 108},
    // Same datasheet, A100 80GB SXM: 2,039 GB/s HBM2e.
    {"a100-80gb", teraflops_per_second(312), teraflops_per_second(19.5),
     gigabytes_per_second(2039), Bytes(81920 * kMiB), 108},
    // NVIDIA A30 datasheet: FP16/BF16 tensor 165 TFLOPS dense, FP32 10.3 TFLOPS,
    // 24 GB HBM2 at 933 GB/s; 56 SMs.
    {"a30-24gb", teraflops_per_second(165), teraflops_per_second(10.3),
     gigabytes_per_second(933), Bytes(24576 * kMiB), 56},
    // NVIDIA H100 datasheet, SXM5: FP16/BF16 tensor 989 TFLOPS dense (1,979 with
    // sparsity), FP32 67 TFLOPS, 80 GB HBM3 at 3.35 TB/s; 132 SMs.
    {"h100-sxm", teraflops_per_second(989), teraflops_per_second(67),
     gigabytes_per_second(3350), Bytes(81559 * kMiB), 132},
    // NVIDIA H200 datasheet, SXM: same compute as H100 SXM, 141 GB HBM3e at 4.8 TB/s.
    {"h200", teraflops_per_second(989), teraflops_per_second(67),
     gigabytes_per_second(4800), Bytes(143771 * kMiB), 132},
}};

// Default point-to-point latencies (alpha) until a calibration replaces them: a few
// microseconds for NCCL send/recv inside a node, about twice that across InfiniBand.
constexpr Seconds kIntraLatency = microseconds(5);
constexpr Seconds kInterLatency = microseconds(10);

Cluster make_cluster(const GpuSpec& gpu, int nodes, int gpus_per_node, IntraFabric kind,
                     double intra_GBps, double inter_GBps, int nics_per_node) {
  Cluster c;
  c.gpu = gpu;
  c.nodes = nodes;
  c.gpus_per_node = gpus_per_node;
  c.intra_kind = kind;
  c.intra = LinkSpec{gigabytes_per_second(intra_GBps), kIntraLatency};
  c.inter = LinkSpec{gigabytes_per_second(inter_GBps), kInterLatency};
  c.nics_per_node = nics_per_node;
  return c;
}

Cluster with_nccl_per_nic(Cluster c, double GBps) {
  c.nccl_per_nic = gigabytes_per_second(GBps);
  return c;
}

const std::array<ClusterPreset, 6>& cluster_table() {
  static const std::array<ClusterPreset, 6> table = {{
      // LV-XAttn paper set-up 1: 4 nodes x 4 A100-80GB. NERSC Perlmutter GPU nodes: the
      // four A100s are fully connected by third-generation NVLink, 4 links (4 x 25 GB/s)
      // per pair and direction; one 25 GB/s Slingshot NIC per GPU.
      {"lvxattn-16xa100", make_cluster(kGpus[1], 4, 4, IntraFabric::nvlink_mesh, 100, 25, 4),
       "LV-XAttn (ICML 2025) set-up; NERSC Perlmutter GPU node architecture"},
      // Set-up 2: 8 nodes x 1 A30-24GB, 1.25 GB/s between nodes (10 Gb/s Ethernet).
      {"lvxattn-8xa30", make_cluster(kGpus[2], 8, 1, IntraFabric::none, 0, 1.25, 1),
       "LV-XAttn (ICML 2025) set-up"},
      // Set-up 3: 4 nodes x 3 A100-40GB on PCIe 4.0 x16 (the paper's 64 GB/s is both
      // directions: 32 GB/s each way), 25 GB/s between nodes.
      {"lvxattn-12xa100", make_cluster(kGpus[0], 4, 3, IntraFabric::pcie, 32, 25, 3),
       "LV-XAttn (ICML 2025) set-up; PCIe 4.0 x16 per direction"},
      // NVIDIA DGX H100: 8 H100 SXM on NVLink switches, 900 GB/s bidirectional per GPU
      // (450 GB/s per direction); eight 400 Gb/s ConnectX-7 NICs (one per GPU, 50 GB/s).
      {"dgx-h100", make_cluster(kGpus[3], 1, 8, IntraFabric::nvlink_switch, 450, 50, 8),
       "NVIDIA DGX H100 datasheet"},
      // HGX H200: the same fabric as DGX H100 with H200 GPUs.
      {"hgx-h200", make_cluster(kGpus[4], 1, 8, IntraFabric::nvlink_switch, 450, 50, 8),
       "NVIDIA HGX H200 datasheet"},
      // Azure ND A100 v4: 8 A100-40GB on NVSwitch (600 GB/s bidirectional per GPU, 300 per
      // direction), one 200 Gb/s HDR InfiniBand link per GPU (25 GB/s); the cluster of the
      // nccl-tests logs in shared/data. NCCL per NIC: Azure's node health check for this VM
      // (github.com/Azure/azurehpc-health-checks, conf/nd96asr_v4.conf,
      // check_nccl_allreduce_ib_loopback) requires an 8 GiB all-reduce of the 8 GPUs with
      // NVLink and shared memory disabled, every hop through a NIC, to reach 18.0 GB/s of
      // bus bandwidth: 72% of the line rate, where its RDMA-write check asks 185 Gb/s.
      {"azure-ndv4", with_nccl_per_nic(make_cluster(kGpus[0], 1, 8, IntraFabric::nvlink_switch, 300, 25, 8), 18.0),
       "Microsoft Azure ND A100 v4 series documentation; Azure node health checks (NCCL per NIC)"},
  }};
  return table;
}

template <class Range>
std::string join_names(const Range& r) {
  std::string s;
  for (const auto& x : r) {
    if (!s.empty()) s += ", ";
    s += x.name;
  }
  return s;
}

template <class Range>
auto find_named(const Range& r, std::string_view name) -> decltype(&*std::begin(r)) {
  for (const auto& x : r)
    if (x.name == name) return &x;
  return nullptr;
}

}  // namespace

ModelSpec describe_model(std::string name, Architecture arch, std::string source) {
  ModelSpec m;
  m.name = std::move(name);
  m.source = std::move(source);
  const LanguageModelSpec& lm = arch.lm;
  m.layers = lm.layers;
  m.text_hidden = lm.hidden;
  if (arch.multimodal()) {
    m.heads = arch.cross.heads;
    m.kv_heads = arch.cross.kv_heads;
    m.head_dim = arch.cross.head_dim;
    m.visual_hidden = arch.cross.kv_input;
    m.cross_attention_layers = arch.cross.count();
    m.tokens_per_frame = arch.tokens_per_item();
  } else {
    // A decoder-only LM: the layer is its self-attention layer; K and V read the hidden
    // state, and there are no visual tokens.
    m.heads = lm.heads;
    m.kv_heads = lm.kv_heads;
    m.head_dim = lm.head_dim;
    m.visual_hidden = lm.hidden;
    m.cross_attention_layers = 0;
    m.tokens_per_frame = 0;
  }
  m.arch = std::move(arch);
  return m;
}

std::span<const ModelSpec> model_presets() { return model_table(); }
std::span<const GpuSpec> gpu_presets() { return kGpus; }
std::span<const ClusterPreset> cluster_presets() { return cluster_table(); }

const ModelSpec* find_model(std::string_view name) { return find_named(model_table(), name); }
const GpuSpec* find_gpu(std::string_view name) { return find_named(kGpus, name); }
const ClusterPreset* find_cluster(std::string_view name) { return find_named(cluster_table(), name); }

std::string model_names() { return join_names(model_table()); }
std::string gpu_names() { return join_names(kGpus); }
std::string cluster_names() { return join_names(cluster_table()); }

const GpuSpec* gpu_preset_for_device(const std::string& device_name) {
  std::string n;
  for (char ch : device_name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  auto has = [&](const char* s) { return n.find(s) != std::string::npos; };
  if (has("h200")) return find_gpu("h200");
  // H100 PCIe and NVL have other peaks than the SXM part: no preset for them.
  if (has("h100") && !has("pcie") && !has("nvl")) return find_gpu("h100-sxm");
  if (has("a100")) return find_gpu(has("80gb") ? "a100-80gb" : "a100-40gb");
  if (has("a30")) return find_gpu("a30-24gb");
  return nullptr;
}

}  // namespace xattn
