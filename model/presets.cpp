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

namespace xattn {
namespace {

constexpr double kMiB = 1048576.0;

const std::array<ModelSpec, 5> kModels = {{
    // meta-llama/Llama-3.2-11B-Vision config.json: text_config hidden_size 4096,
    // num_hidden_layers 40, num_attention_heads 32, num_key_value_heads 8 (head dim
    // 4096/32 = 128), cross_attention_layers [3, 8, 13, 18, 23, 28, 33, 38];
    // vision_config image_size 560, patch_size 14 -> (560/14)^2 + 1 class token = 1601
    // tokens per tile, max_num_tiles 4 -> 6404 tokens per image. The multi-modal
    // projector maps vision_output_dim 7680 to the text hidden size 4096, which the
    // cross-attention K/V projections read.
    {"llama-3.2-11b-vision", 32, 8, 128, 4096, 4096, 40, 8, 6404,
     "meta-llama/Llama-3.2-11B-Vision config.json"},
    // mPLUG/mPLUG-Owl3-7B-240728: language model Qwen2-7B (hidden_size 3584,
    // num_hidden_layers 28, num_attention_heads 28, num_key_value_heads 4, head dim 128);
    // hyper_layers [1, 9, 17, 25] (4 hyper-attention layers); vision encoder
    // SigLIP-so400m at 384 px, patch 14 -> 27 x 27 = 729 tokens per frame, projected to
    // the text width 3584.
    {"mplug-owl3-7b", 28, 4, 128, 3584, 3584, 28, 4, 729,
     "mPLUG/mPLUG-Owl3-7B-240728 config.json; Qwen2-7B config.json"},
    // mPLUG/mPLUG-Owl3-2B-241014: language model Qwen2-1.5B (hidden_size 1536,
    // num_hidden_layers 28, num_attention_heads 12, num_key_value_heads 2, head dim 128);
    // same SigLIP encoder (729 tokens per frame). Hyper-attention layer positions taken
    // as the 7B's four ([1, 9, 17, 25]); we have not confirmed them in the 2B config.
    {"mplug-owl3-2b", 12, 2, 128, 1536, 1536, 28, 4, 729,
     "Qwen2-1.5B config.json; hyper-attention layer count assumed equal to the 7B's"},
    // openflamingo/OpenFlamingo-9B-vitl-mpt7b: MPT-7B (d_model 4096, n_layers 32),
    // cross_attn_every_n_layers 4 -> 8 gated cross-attention layers; the
    // GatedCrossAttentionBlock defaults dim_head 64, heads 8 (multi-head, no GQA); the
    // Perceiver resampler emits 64 latents per frame of CLIP ViT-L/14 width 1024.
    {"openflamingo-9b", 8, 8, 64, 4096, 1024, 32, 8, 64,
     "openflamingo/OpenFlamingo-9B-vitl-mpt7b config; open_flamingo helpers.py defaults"},
    // openflamingo/OpenFlamingo-3B-vitl-mpt1b: MPT-1B-RedPajama (d_model 2048,
    // n_layers 24), cross_attn_every_n_layers 1 -> 24 cross-attention layers; same
    // cross-attention block (8 heads x 64) and resampler (64 latents, width 1024).
    {"openflamingo-3b", 8, 8, 64, 2048, 1024, 24, 24, 64,
     "openflamingo/OpenFlamingo-3B-vitl-mpt1b config; open_flamingo helpers.py defaults"},
}};

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
      // nccl-tests logs in shared/data.
      {"azure-ndv4", make_cluster(kGpus[0], 1, 8, IntraFabric::nvlink_switch, 300, 25, 8),
       "Microsoft Azure ND A100 v4 series documentation"},
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

std::span<const ModelSpec> model_presets() { return kModels; }
std::span<const GpuSpec> gpu_presets() { return kGpus; }
std::span<const ClusterPreset> cluster_presets() { return cluster_table(); }

const ModelSpec* find_model(std::string_view name) { return find_named(kModels, name); }
const GpuSpec* find_gpu(std::string_view name) { return find_named(kGpus, name); }
const ClusterPreset* find_cluster(std::string_view name) { return find_named(cluster_table(), name); }

std::string model_names() { return join_names(kModels); }
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
