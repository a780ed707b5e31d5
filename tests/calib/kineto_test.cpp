// Reading PyTorch profiler (Kineto) traces and fitting a calibration to them
// (model/calib/kineto.hpp, kineto_fit.hpp; docs/kineto.md): the kernel classes on a real
// trace (pytorch/kineto's V100 test trace) and on synthetic ones whose truth is known
// (tests/data/kineto/make_synthetic.py), the fit found again and fed back through the
// model, gzip, and the bad inputs that must be InputErrors naming the file and JSON path.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <zlib.h>

#include "model/calib/kineto.hpp"
#include "model/calib/kineto_fit.hpp"
#include "model/core/error.hpp"
#include "model/presets.hpp"
#include "model/scenario/calibration_file.hpp"
#include "tests/calib/calib_test_util.hpp"

namespace xattn {
namespace {

using calib_test::read_text;
using calib_test::TempDir;

const std::string kData = std::string(XATTN_SOURCE_DIR) + "/tests/data/kineto/";
const std::string kV100 = kData + "kineto-v100-mlp/gpu_metrics_input.json";
const std::string kFamilies = kData + "synthetic-families/trace.json";
const std::vector<std::string> kFsdp = {kData + "synthetic-fsdp-2rank/rank0.json",
                                        kData + "synthetic-fsdp-2rank/rank1.json"};

const ClassSummary& cls(const KinetoSummary& s, KernelClass c) {
  auto it = std::find_if(s.classes.begin(), s.classes.end(), [&](const ClassSummary& x) { return x.cls == c; });
  if (it == s.classes.end()) throw std::runtime_error("class missing");
  return *it;
}

// The problems of the InputError `f` throws (none: the test fails).
template <class F>
std::vector<Problem> problems_of(F&& f) {
  try {
    f();
  } catch (const InputError& e) {
    return e.problems();
  }
  ADD_FAILURE() << "no InputError";
  return {};
}

// ---- classification by name (docs/kineto.md §2) ------------------------------------------------

TEST(KinetoClassify, GemmNamesOfCublasCublasLtAndCutlass) {
  // Names as the libraries write them (cuBLAS on Volta/Ampere/Hopper, cuBLASLt's nvjet and
  // split-K reduce, CUTLASS), copied from the fixtures.
  for (const char* n : {"volta_sgemm_128x32_nt", "ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_stages_64x4_tn",
                        "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64_warpgroupsize2x1x1_execute_"
                        "segment_k_off_kernel__5x_cublas",
                        "nvjet_tst_128x256_64x4_2x1_v_bz_coopA_NNT",
                        "void cutlass::Kernel<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>("
                        "cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8::Params)",
                        "void gemmSN_TN_kernel_64addr<float, 128, 16, 2, 4, 8, 9, false, "
                        "cublasGemvTensorStridedBatched<float const> >(cublasGemmSmallNParams<float const>)"})
    EXPECT_EQ(classify_kernel(n).cls, KernelClass::gemm) << n;
}

TEST(KinetoClassify, AttentionKernelsWithFamilyAndPass) {
  const KernelName fa2 = classify_kernel(
      "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 32, 4, false, false, "
      "cutlass::bfloat16_t, Flash_kernel_traits<128, 128, 32, 4, cutlass::bfloat16_t> >, false, true>("
      "pytorch_flash::Flash_fwd_params)");
  EXPECT_EQ(fa2.cls, KernelClass::attention);
  ASSERT_TRUE(fa2.family);
  EXPECT_EQ(*fa2.family, KernelFamily::flash_attention_2);
  ASSERT_TRUE(fa2.pass);
  EXPECT_EQ(*fa2.pass, BlockPass::fwd);
  const KernelName bwd = classify_kernel(
      "void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_traits<128, 64, 128, 8, 2, "
      "4, 2, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 64, 128, 8, cutlass::bfloat16_t> > >("
      "pytorch_flash::Flash_bwd_params)");
  EXPECT_EQ(bwd.cls, KernelClass::attention);
  ASSERT_TRUE(bwd.pass);
  EXPECT_EQ(*bwd.pass, BlockPass::bwd);
  const KernelName fa3 = classify_kernel(
      "void cutlass::device_kernel<flash::enable_sm90_or_later<flash::FlashAttnFwdSm90<flash::"
      "CollectiveMainloopFwdSm90<2, cute::tuple<cute::C<1> >, 128, cutlass::bfloat16_t> > > >(Params)");
  EXPECT_EQ(fa3.cls, KernelClass::attention);
  ASSERT_TRUE(fa3.family);
  EXPECT_EQ(*fa3.family, KernelFamily::flash_attention_3);
  const KernelName cudnn =
      classify_kernel("cudnn_generated_fort_native_sdpa_sm80_flash_fprop_wmma_f16_knob_3_64x64x128_4x1x1_kernel0_0");
  EXPECT_EQ(cudnn.cls, KernelClass::attention);
  ASSERT_TRUE(cudnn.family);
  EXPECT_EQ(*cudnn.family, KernelFamily::cudnn);
  EXPECT_EQ(classify_kernel("fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<"
                            "cutlass::bfloat16_t, cutlass::arch::Sm80, true, 64, 64, 64, true, true>::Params)")
                .cls,
            KernelClass::attention);
}

TEST(KinetoClassify, NcclKernelsWithTheirCollective) {
  const KernelName ar = classify_kernel("ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)");
  EXPECT_EQ(ar.cls, KernelClass::nccl);
  ASSERT_TRUE(ar.collective);
  EXPECT_EQ(*ar.collective, NcclCollective::all_reduce);
  EXPECT_EQ(ar.algorithm, "RING");
  EXPECT_EQ(ar.protocol, "ll");
  const KernelName rs = classify_kernel("ncclDevKernel_ReduceScatter_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)");
  ASSERT_TRUE(rs.collective);
  EXPECT_EQ(*rs.collective, NcclCollective::reduce_scatter);
  const KernelName ag = classify_kernel("ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)");
  ASSERT_TRUE(ag.collective);
  EXPECT_EQ(*ag.collective, NcclCollective::all_gather);
  EXPECT_EQ(classify_kernel("ncclDevKernel_SendRecv(ncclDevKernelArgsStorage<4096ul>)").cls, KernelClass::nccl);
}

TEST(KinetoClassify, ElementwiseOptimizerAndOther) {
  EXPECT_EQ(classify_kernel("void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::"
                            "BFloat16>, at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<c10::BFloat16>, "
                            "at::detail::Array<char*, 3>)")
                .cls,
            KernelClass::elementwise);
  EXPECT_EQ(classify_kernel("void at::native::reduce_kernel<512, 1, at::native::ReduceOp<float> >(float)").cls,
            KernelClass::elementwise);
  EXPECT_EQ(classify_kernel("triton_poi_fused_add_mul_0").cls, KernelClass::elementwise);
  const KernelName adam = classify_kernel(
      "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::"
      "FusedOptimizerTensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<c10::BFloat16, 4, "
      "(at::native::ADAM_MODE)1, false> >(int)");
  EXPECT_EQ(adam.cls, KernelClass::elementwise);
  EXPECT_TRUE(adam.optimizer);
  EXPECT_EQ(classify_kernel("my_custom_kernel(float*, int)").cls, KernelClass::other);
}

// ---- a real trace: pytorch/kineto's V100 test trace (tests/data/kineto/README.md) ---------------

TEST(KinetoRead, TheV100TraceOfPytorchKineto) {
  const KinetoTrace t = read_kineto_trace(kV100);
  // Counted by hand in the file: 30 events of cat "Kernel": 2 volta_sgemm, 3 cuBLAS gemmSN
  // (GEMV-shaped GEMMs), 25 of PyTorch's elementwise and reduce kernels; 48 us in all; one
  // ProfilerStep#2; four Tesla V100-DGXS-32GB listed; no distributedInfo.
  EXPECT_EQ(t.kernels.size(), 30u);
  EXPECT_EQ(t.device, "Tesla V100-DGXS-32GB");
  EXPECT_EQ(t.devices_listed, 4);
  EXPECT_FALSE(t.rank_known);
  EXPECT_EQ(t.steps.size(), 1u);
  const KinetoSummary s = summarize_kineto({t});
  EXPECT_EQ(cls(s, KernelClass::gemm).count, 5);
  EXPECT_EQ(cls(s, KernelClass::elementwise).count, 25);
  EXPECT_EQ(cls(s, KernelClass::attention).count, 0);
  EXPECT_EQ(cls(s, KernelClass::nccl).count, 0);
  EXPECT_EQ(cls(s, KernelClass::other).count, 0);
  double total = 0;
  for (const ClassSummary& c : s.classes) total += c.time_s;
  EXPECT_NEAR(total, 48e-6, 1e-9);
  // No record_shapes: no FLOP counts, so no achieved TFLOP/s is claimed.
  EXPECT_FALSE(cls(s, KernelClass::gemm).achieved_tflops());
  EXPECT_EQ(s.memcpy_count, 2);
}

TEST(KinetoFitTest, TheV100TraceLeavesOutWhatItCannotTell) {
  // A V100 is no preset and the trace has no shapes: nothing is fitted but nothing is
  // invented either; each missing figure is named.
  const KinetoFit fit = fit_kineto({read_kineto_trace(kV100)});
  EXPECT_TRUE(fit.gpu_preset.empty());
  EXPECT_TRUE(fit.calibration.compute.gemm_table.empty());
  auto left = [&](const std::string& key) {
    return std::any_of(fit.left_out.begin(), fit.left_out.end(), [&](const LeftOut& l) { return l.key == key; });
  };
  EXPECT_TRUE(left("compute.gemm_table"));
  EXPECT_TRUE(left("links"));
}

// ---- synthetic traces whose truth is known ---------------------------------------------------------

TEST(KinetoRead, OneKernelOfEachFamily) {
  // make_synthetic.py's make_families: six GEMM kernels (cuBLAS sgemm, Ampere bf16, Hopper
  // xmma, nvjet, CUTLASS, cuBLASLt split-K reduce), five attention (FA2 fwd and bwd, FA3,
  // cuDNN, memory-efficient), three NCCL, four elementwise (add, layer norm, Triton, fused
  // AdamW, the last an optimizer kernel), one unknown.
  const KinetoSummary s = summarize_kineto({read_kineto_trace(kFamilies)});
  EXPECT_EQ(cls(s, KernelClass::gemm).count, 6);
  EXPECT_EQ(cls(s, KernelClass::attention).count, 5);
  EXPECT_EQ(cls(s, KernelClass::nccl).count, 3);
  EXPECT_EQ(cls(s, KernelClass::elementwise).count, 4);
  EXPECT_EQ(cls(s, KernelClass::other).count, 1);
  EXPECT_EQ(s.optimizer_kernels, 1);
}

TEST(KinetoRead, TwoRanksOfFsdpWithShapesAndCollectives) {
  const std::vector<KinetoTrace> ts = read_kineto_traces({kFsdp[1], kFsdp[0]});
  ASSERT_EQ(ts.size(), 2u);
  // Sorted by distributedInfo.rank, not by the order given.
  EXPECT_EQ(ts[0].rank, 0);
  EXPECT_EQ(ts[1].rank, 1);
  EXPECT_TRUE(ts[0].rank_known);
  EXPECT_EQ(ts[0].world_size, 2);
  const KinetoSummary s = summarize_kineto(ts);
  // Per rank and step (make_synthetic.py): 2 layers x (4 forward + 8 backward) GEMMs + 1 + 2
  // for the LM head = 27; x 2 steps x 2 ranks = 108. Attention: per layer 1 forward + 3
  // backward kernels: 8 per step, 32 in all. NCCL: 1 + 2 all-gathers forward, 2 backward,
  // 3 reduce-scatters: 8 per step, 32 in all.
  EXPECT_EQ(cls(s, KernelClass::gemm).count, 108);
  EXPECT_EQ(cls(s, KernelClass::attention).count, 32);
  EXPECT_EQ(cls(s, KernelClass::nccl).count, 32);
  EXPECT_EQ(cls(s, KernelClass::gemm).shaped, 108);
  // The GEMMs ran at 55-62% of the A100's 312 TFLOP/s (make_synthetic.py GEMM_EFF, +-3%
  // jitter): 172-193 TFLOP/s in aggregate.
  ASSERT_TRUE(cls(s, KernelClass::gemm).achieved_tflops());
  EXPECT_GT(*cls(s, KernelClass::gemm).achieved_tflops(), 0.55 * 312 * 0.97);
  EXPECT_LT(*cls(s, KernelClass::gemm).achieved_tflops(), 0.62 * 312 * 1.03);
  // Every collective at a bus bandwidth of 150 GB/s (BUSBW), +-3%.
  ASSERT_FALSE(s.collectives.empty());
  for (const CollectiveGroup& g : s.collectives) {
    EXPECT_EQ(g.group, 2);
    EXPECT_NEAR(g.busbw_GBps(), 150.0, 150.0 * 0.03);
  }
  // Rank 1's kernels carry no communication metadata: its collectives come from the
  // launching record_param_comms op instead.
  EXPECT_EQ(s.nccl_without_metadata, 0);
  const MeasuredStep m = measured_step(ts);
  EXPECT_EQ(m.ranks, 2);
  EXPECT_EQ(m.steps, 2);
  EXPECT_TRUE(m.fwd_gemm.present);
  EXPECT_TRUE(m.bwd_attention.present);
  EXPECT_TRUE(m.optimizer.present);
  // Backward GEMMs are twice the forward's FLOPs, at lower efficiency (0.58 and 0.55
  // against 0.62): between 2 and 2.4 times the forward time.
  EXPECT_GT(m.bwd_gemm.kernel_sum.value() / m.fwd_gemm.kernel_sum.value(), 2.0);
  EXPECT_LT(m.bwd_gemm.kernel_sum.value() / m.fwd_gemm.kernel_sum.value(), 2.4);
}

TEST(KinetoFitTest, FindsTheSyntheticTruthAgain) {
  const KinetoFit fit = fit_kineto(read_kineto_traces(kFsdp));
  EXPECT_EQ(fit.gpu_preset, "a100-80gb");
  const ComputeCalibration& cc = fit.calibration.compute;
  // The forward QKV projection, S x H by H x 3H = 4096 x 2048 x 6144, ran at GEMM_EFF fwd =
  // 0.62 of peak (+-3% jitter).
  const GemmPoint* qkv = cc.gemm_point(4096, 2048, 6144);
  ASSERT_NE(qkv, nullptr);
  EXPECT_NEAR(qkv->efficiency, 0.62, 0.62 * 0.03);
  EXPECT_EQ(qkv->kernels, 8);  // 2 layers x 2 steps x 2 ranks
  // Elementwise: bytes / (0.75 HBM) + 3 us (MEM_EFF, ELEM_FIXED_US).
  ASSERT_TRUE(cc.memory_efficiency);
  EXPECT_NEAR(*cc.memory_efficiency, 0.75, 0.75 * 0.03);
  ASSERT_TRUE(cc.elementwise_overhead);
  EXPECT_NEAR(cc.elementwise_overhead->value() * 1e6, 3.0, 0.5);
  // The gap between queued kernels: LAUNCH_GAP_US = 2.
  ASSERT_TRUE(cc.launch_overhead);
  EXPECT_NEAR(cc.launch_overhead->value() * 1e6, 2.0, 0.01);
  ASSERT_TRUE(cc.kernel);
  EXPECT_EQ(*cc.kernel, KernelFamily::flash_attention_2);
  // Attention by call shape: the causal 4096 x 4096 call, d = 128, whole call (all its
  // kernels) at ATTN_EFF = 0.50 forward and 0.40 backward (+-3% jitter); 1 and 3 kernels
  // per layer x 2 layers x 2 steps x 2 ranks.
  const AttentionPoint* fwd = cc.attention_point(BlockPass::fwd, 128, 4096, 4096, true);
  const AttentionPoint* bwd = cc.attention_point(BlockPass::bwd, 128, 4096, 4096, true);
  ASSERT_NE(fwd, nullptr);
  ASSERT_NE(bwd, nullptr);
  EXPECT_NEAR(fwd->efficiency, 0.50, 0.50 * 0.03);
  EXPECT_NEAR(bwd->efficiency, 0.40, 0.40 * 0.03);
  EXPECT_EQ(fwd->kernels, 8);
  EXPECT_EQ(bwd->kernels, 24);
  // Every figure says how many kernels support it.
  for (const FitEntry& e : fit.entries) EXPECT_GT(e.kernels, 0) << e.key << " " << e.what;
}

TEST(KinetoFitTest, TheWrittenCalibrationReproducesTheKernelsWithinFivePercent) {
  // The round trip: fit, write the calibration file, read it back as the simulator
  // does, and replay every GEMM, attention and elementwise call of the traces through the
  // model with it.
  const std::vector<KinetoTrace> ts = read_kineto_traces(kFsdp);
  const KinetoFit fit = fit_kineto(ts);
  TempDir dir;
  const std::string path = dir.write("fitted.yaml", kineto_calibration_yaml(fit, kFsdp));
  Calibration back;
  apply_calibration_file(back, path);
  EXPECT_EQ(back.compute.gemm_table.size(), fit.calibration.compute.gemm_table.size());
  // The attention calls by shape (compute.attention_table): one causal 4096 x 4096 call of
  // head dim 128 per pass (make_synthetic.py: S = 4096, D = 128, causal SDPA).
  ASSERT_EQ(back.compute.attention_table.size(), 2u);
  ASSERT_NE(back.compute.attention_point(BlockPass::fwd, 128, 4096, 4096, true), nullptr);
  ASSERT_NE(back.compute.attention_point(BlockPass::bwd, 128, 4096, 4096, true), nullptr);
  const std::vector<ReplayRow> rows = replay_kineto(back, *find_gpu("a100-80gb"), ts);
  ASSERT_GE(rows.size(), 3u);
  bool gemm = false, attention = false, elementwise = false;
  for (const ReplayRow& r : rows) {
    gemm |= r.what == "gemm";
    attention |= r.what == "attention";
    elementwise |= r.what == "elementwise";
    EXPECT_GT(r.measured_s, 0) << r.what;
    EXPECT_LT(std::abs(r.error()), 0.05) << r.what << ": measured " << r.measured_s << " s, predicted "
                                         << r.predicted_s << " s";
  }
  EXPECT_TRUE(gemm && attention && elementwise);
  // Without the table, the family's peak fractions alone still reproduce the attention
  // calls within 5% (they were fitted to add up): the table is not what makes it pass.
  Calibration no_table = back;
  no_table.compute.attention_table.clear();
  for (const ReplayRow& r : replay_kineto(no_table, *find_gpu("a100-80gb"), ts))
    if (r.what == "attention") {
      EXPECT_LT(std::abs(r.error()), 0.05) << r.predicted_s << " against " << r.measured_s;
    }
  // Without the fit (the A100's defaults) the same replay is off by more: the round trip
  // tests the fit, not a tolerance wide enough for anything.
  const std::vector<ReplayRow> plain = replay_kineto(Calibration{}, *find_gpu("a100-80gb"), ts);
  ASSERT_FALSE(plain.empty());
  EXPECT_GT(std::abs(plain[0].error()), 0.05) << plain[0].what;
}

// ---- gzip ------------------------------------------------------------------------------------------

TEST(KinetoRead, AGzippedTraceReadsAsThePlainOne) {
  TempDir dir;
  const std::string gz = dir.path("rank0.json.gz");
  const std::string text = read_text(kFsdp[0]);
  gzFile f = gzopen(gz.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, text.data(), static_cast<unsigned>(text.size())), static_cast<int>(text.size()));
  gzclose(f);
  const KinetoTrace a = read_kineto_trace(kFsdp[0]);
  const KinetoTrace b = read_kineto_trace(gz);
  ASSERT_EQ(a.kernels.size(), b.kernels.size());
  for (std::size_t i = 0; i < a.kernels.size(); ++i) {
    EXPECT_EQ(a.kernels[i].cls, b.kernels[i].cls);
    EXPECT_EQ(a.kernels[i].dur_us, b.kernels[i].dur_us);
  }
  // Cut in half, the gzip stream ends early: malformed, naming the file.
  const std::string bytes = read_text(gz);
  const std::string cut = dir.write("cut.json.gz", bytes.substr(0, bytes.size() / 2));
  const auto p = problems_of([&] { (void)read_kineto_trace(cut); });
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p[0].origin.source, cut);
}

// ---- bad input: InputError naming the file, the line and the JSON path (exit 2) -------------------

TEST(KinetoRead, ATruncatedTraceNamesTheFileLineAndPath) {
  TempDir dir;
  const std::string text = read_text(kFsdp[0]);
  // Cut in the middle of the events: the parser stops inside traceEvents[N].
  const std::string path = dir.write("cut.json", text.substr(0, text.size() / 2));
  const auto p = problems_of([&] { (void)read_kineto_trace(path); });
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].origin.source, path);
  EXPECT_GT(p[0].origin.line, 1);
  EXPECT_EQ(p[0].field.rfind("traceEvents[", 0), 0u) << p[0].field;
  EXPECT_NE(p[0].message.find("malformed"), std::string::npos) << p[0].message;
}

TEST(KinetoRead, AKernelWithoutDurationIsNamedByItsIndex) {
  TempDir dir;
  const std::string path = dir.write("bad.json",
                                     "{\"traceEvents\": [\n"
                                     "  {\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"volta_sgemm_128x32_nt\", "
                                     "\"ts\": 10, \"dur\": 5, \"pid\": 0, \"tid\": 7},\n"
                                     "  {\"ph\": \"X\", \"cat\": \"kernel\", \"name\": \"volta_sgemm_128x32_nt\", "
                                     "\"ts\": 20, \"pid\": 0, \"tid\": 7}\n"
                                     "]}\n");
  const auto p = problems_of([&] { (void)read_kineto_trace(path); });
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].origin.source, path);
  EXPECT_EQ(p[0].origin.line, 3);
  EXPECT_EQ(p[0].field, "traceEvents[1].dur");
}

TEST(KinetoRead, ATraceWithoutGpuKernelsSaysSo) {
  TempDir dir;
  const std::string path = dir.write("cpu-only.json",
                                     "{\"traceEvents\": [{\"ph\": \"X\", \"cat\": \"cpu_op\", \"name\": \"aten::mm\", "
                                     "\"ts\": 1, \"dur\": 2, \"pid\": 1, \"tid\": 1}]}");
  const auto p = problems_of([&] { (void)read_kineto_trace(path); });
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].field, "traceEvents");
  EXPECT_NE(p[0].message.find("no GPU kernel"), std::string::npos) << p[0].message;
}

TEST(KinetoRead, NotAChromeTraceAndMissingFiles) {
  TempDir dir;
  const std::string other = dir.write("other.json", "{\"schemaVersion\": 1}");
  auto p = problems_of([&] { (void)read_kineto_trace(other); });
  ASSERT_EQ(p.size(), 1u);
  EXPECT_EQ(p[0].field, "traceEvents");
  p = problems_of([&] { (void)read_kineto_traces({dir.path("absent.json"), other}); });
  EXPECT_EQ(p.size(), 2u);  // both files' problems at once
}

TEST(KinetoRead, AFolderStandsForItsTraces) {
  // What tensorboard_trace_handler writes: one folder, a trace per rank, other files beside.
  TempDir dir;
  dir.write("host_r1.1700000000.pt.trace.json", read_text(kFsdp[1]));
  dir.write("host_r0.1700000000.pt.trace.json", read_text(kFsdp[0]));
  dir.write("notes.txt", "not a trace");
  const std::string folder = dir.path("");
  const std::vector<std::string> files = expand_kineto_paths({folder});
  ASSERT_EQ(files.size(), 2u);  // the two traces, by name; notes.txt left alone
  EXPECT_NE(files[0].find("host_r0"), std::string::npos);
  const std::vector<KinetoTrace> ts = read_kineto_traces({folder});
  ASSERT_EQ(ts.size(), 2u);
  EXPECT_EQ(ts[1].rank, 1);
  // A folder without traces is bad input, named.
  TempDir empty;
  const auto p = problems_of([&] { (void)expand_kineto_paths({empty.path("")}); });
  ASSERT_EQ(p.size(), 1u);
  EXPECT_NE(p[0].message.find("no *.json"), std::string::npos) << p[0].message;
}

TEST(KinetoRead, TwoFilesOfTheSameRankAreRefused) {
  const auto p = problems_of([&] { (void)read_kineto_traces({kFsdp[0], kFsdp[0]}); });
  ASSERT_FALSE(p.empty());
  EXPECT_EQ(p[0].field, "distributedInfo.rank");
}

}  // namespace
}  // namespace xattn
