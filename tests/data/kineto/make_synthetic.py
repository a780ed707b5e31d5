#!/usr/bin/env python3
"""Writes the SYNTHETIC Kineto traces of tests/data/kineto/synthetic-*/ (README.md there).

Nothing here was measured: every duration is computed from the figures below (an A100-80GB
at fixed efficiencies, plus a deterministic +-3% jitter), in the layout PyTorch's profiler
writes (Kineto's Chrome-trace JSON: cpu_op, cuda_runtime and kernel events joined by
External id and correlation, distributedInfo, deviceProperties, ProfilerStep#N, the
communication metadata on record_param_comms). The tests know the truth they were made
from, so they can check that the import finds it again. Run it from anywhere:

    python3 tests/data/kineto/make_synthetic.py
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))

# The truth the traces are made from (what the fit should find again).
PEAK = 312e12          # A100 bf16 dense FLOP/s (datasheet)
HBM = 2.039e12         # A100-80GB bytes/s (datasheet)
GEMM_EFF = {"fwd": 0.62, "dx": 0.58, "dw": 0.55}
ATTN_EFF = {"fwd": 0.50, "bwd": 0.40}
MEM_EFF = 0.75         # elementwise: bytes / (0.75 HBM) + 3 us
ELEM_FIXED_US = 3.0
LAUNCH_GAP_US = 2.0    # the GPU's gap between queued kernels
BUSBW = 150e9          # NCCL bus bandwidth between the two GPUs

H, HEADS, D, F, V, LAYERS, S = 2048, 16, 128, 5632, 32000, 2, 4096
BF16 = "c10::BFloat16"


class Rng:
    """A small LCG: the same jitter on every machine."""

    def __init__(self, seed):
        self.x = seed

    def jitter(self):
        self.x = (self.x * 1103515245 + 12345) % (1 << 31)
        return 1.0 + 0.06 * (self.x / float(1 << 31) - 0.5)


class Trace:
    def __init__(self, rank, world, seed, metadata_on_kernels):
        self.rank = rank
        self.world = world
        self.rng = Rng(seed)
        self.events = []
        self.ext = 1000 * (rank + 1)
        self.corr = 50000 * (rank + 1)
        self.pid = 4100 + rank
        self.main, self.bwd = 4100 + rank, 4200 + rank
        self.gpu_free = {7: 0.0, 20: 0.0}   # stream -> when its last kernel ends
        self.cpu = {self.main: 0.0, self.bwd: 0.0}
        self.metadata_on_kernels = metadata_on_kernels

    def ev(self, e):
        self.events.append(e)

    def op(self, thread, name, dur_us, args, kernels):
        """A CPU op on `thread` launching `kernels` [(name, stream, gpu_us, extra_args)]."""
        self.ext += 1
        ext = self.ext
        t0 = self.cpu[thread]
        a = dict(args)
        a["External id"] = ext
        self.ev({"ph": "X", "cat": "cpu_op", "name": name, "pid": self.pid, "tid": thread,
                 "ts": round(t0, 3), "dur": round(dur_us, 3), "args": a})
        t = t0 + 2.0
        for kname, stream, gpu_us, extra in kernels:
            self.corr += 1
            self.ev({"ph": "X", "cat": "cuda_runtime", "name": "cudaLaunchKernel", "pid": self.pid, "tid": thread,
                     "ts": round(t, 3), "dur": 4.0, "args": {"External id": ext, "correlation": self.corr}})
            start = max(t + 6.0, self.gpu_free[stream] + LAUNCH_GAP_US)
            for dep in extra.pop("_after", []):
                start = max(start, dep)
            dur = gpu_us * self.rng.jitter()
            kargs = {"External id": ext, "device": 0, "stream": stream, "correlation": self.corr}
            kargs.update(extra)
            self.ev({"ph": "X", "cat": "kernel", "name": kname, "pid": 0, "tid": stream,
                     "ts": round(start, 3), "dur": round(dur, 3), "args": kargs})
            self.gpu_free[stream] = start + dur
            t += 5.0
        self.cpu[thread] = max(t0 + dur_us, t) + 1.0
        return self.gpu_free

    def annotate(self, thread, name, t0, t1):
        self.ext += 1
        self.ev({"ph": "X", "cat": "user_annotation", "name": name, "pid": self.pid, "tid": thread,
                 "ts": round(t0, 3), "dur": round(t1 - t0, 3), "args": {"External id": self.ext}})

    def write(self, path):
        doc_head = {
            "schemaVersion": 1,
            "deviceProperties": [{"id": i, "name": "NVIDIA A100-SXM4-80GB", "totalGlobalMem": 85198045184,
                                  "computeMajor": 8, "computeMinor": 0, "numSms": 108} for i in range(2)],
            "distributedInfo": {"backend": "nccl", "rank": self.rank, "world_size": self.world},
            "record_shapes": 1,
        }
        with open(path, "w") as f:
            f.write("{\n")
            for k, v in doc_head.items():
                f.write("  %s: %s,\n" % (json.dumps(k), json.dumps(v)))
            f.write('  "traceEvents": [\n')
            events = sorted(self.events, key=lambda e: (e.get("ts", 0), e["name"]))
            for i, e in enumerate(events):
                f.write("    " + json.dumps(e) + (",\n" if i + 1 < len(events) else "\n"))
            f.write('  ],\n  "traceName": "%s"\n}\n' % os.path.basename(path))


def gemm_us(m, k, n, kind):
    return 2.0 * m * k * n / (PEAK * GEMM_EFF[kind]) * 1e6


def elem_us(nbytes):
    return nbytes / (MEM_EFF * HBM) * 1e6 + ELEM_FIXED_US


GEMM_NAMES = {
    "fwd": "sm80_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x128x32_stage4_warpsize2x2x1_tensor16x8x16_kernel",
    "dx": "ampere_bf16_s16816gemm_bf16_128x128_ldg8_f2f_stages_64x3_nn",
    "dw": "cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_nt_align8",
}
ELEM = "void at::native::elementwise_kernel<128, 2, at::native::gpu_kernel_impl_nocast<at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, at::native::binary_internal::MulFunctor<float> > >(at::TensorIteratorBase&, at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, at::native::binary_internal::MulFunctor<float> > const&)::{lambda(int)#1}>(int, at::native::gpu_kernel_impl_nocast<at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, at::native::binary_internal::MulFunctor<float> > >(at::TensorIteratorBase&, at::native::BinaryFunctor<c10::BFloat16, c10::BFloat16, c10::BFloat16, at::native::binary_internal::MulFunctor<float> > const&)::{lambda(int)#1})"
ADD = "void at::native::vectorized_elementwise_kernel<4, at::native::CUDAFunctor_add<c10::BFloat16>, at::detail::Array<char*, 3> >(int, at::native::CUDAFunctor_add<c10::BFloat16>, at::detail::Array<char*, 3>)"
SOFTMAX = "void at::native::(anonymous namespace)::cunn_SoftMaxForward<4, c10::BFloat16, float, c10::BFloat16, at::native::(anonymous namespace)::LogSoftMaxForwardEpilogue>(c10::BFloat16*, c10::BFloat16 const*, int)"
FA_FWD = "void pytorch_flash::flash_fwd_kernel<Flash_fwd_kernel_traits<128, 128, 32, 4, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 128, 32, 4, cutlass::bfloat16_t> >, false, true, false, false, true, true, false, false>(pytorch_flash::Flash_fwd_params)"
FA_BWD = [
    ("void pytorch_flash::flash_bwd_dot_do_o_kernel<true, Flash_bwd_kernel_traits<128, 64, 128, 8, 2, 4, 2, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 64, 128, 8, cutlass::bfloat16_t> > >(pytorch_flash::Flash_bwd_params)", 0.04),
    ("void pytorch_flash::flash_bwd_dq_dk_dv_loop_seqk_parallel_kernel<Flash_bwd_kernel_traits<128, 64, 128, 8, 2, 4, 2, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 64, 128, 8, cutlass::bfloat16_t> >, true, true, false, false, false, false, false>(pytorch_flash::Flash_bwd_params)", 0.90),
    ("void pytorch_flash::flash_bwd_convert_dq_kernel<Flash_bwd_kernel_traits<128, 64, 128, 8, 2, 4, 2, false, false, cutlass::bfloat16_t, Flash_kernel_traits<128, 64, 128, 8, cutlass::bfloat16_t> > >(pytorch_flash::Flash_bwd_params, int)", 0.06),
]
ADAM = "void at::native::(anonymous namespace)::multi_tensor_apply_kernel<at::native::(anonymous namespace)::FusedOptimizerTensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<c10::BFloat16, 4, (at::native::ADAM_MODE)1, false>, double*, double, double, double, double, double, bool, double const*, double const*>(at::native::(anonymous namespace)::FusedOptimizerTensorListMetadata<4>, at::native::(anonymous namespace)::FusedAdamMathFunctor<c10::BFloat16, 4, (at::native::ADAM_MODE)1, false>, double*, double, double, double, double, double, bool, double const*, double const*)"
NCCL = {"allgather": "ncclDevKernel_AllGather_RING_LL(ncclDevKernelArgsStorage<4096ul>)",
        "reduce_scatter": "ncclDevKernel_ReduceScatter_Sum_bf16_RING_LL(ncclDevKernelArgsStorage<4096ul>)"}

LAYER_PARAMS = 4 * H * H + 3 * H * F
ROOT_PARAMS = 2 * V * H


def causal_pairs(s):
    return s * (s + 1) / 2


def attn_fwd_us():
    return 4.0 * HEADS * D * causal_pairs(S) / (PEAK * ATTN_EFF["fwd"]) * 1e6


def attn_bwd_us():
    return 2.5 * 4.0 * HEADS * D * causal_pairs(S) / (PEAK * ATTN_EFF["bwd"]) * 1e6


def collective(tr, thread, name, params, after=None):
    size = 2.0 * params  # bf16 bytes, nccl-tests' size: the whole (gathered) buffer
    nelems_total, nelems_shard = params, params // tr.world
    if name == "allgather":
        ins, outs = nelems_shard, nelems_total
    else:
        ins, outs = nelems_total, nelems_shard
    meta = {"Collective name": name, "dtype": "BFloat16", "In msg nelems": ins, "Out msg nelems": outs,
            "Group size": tr.world, "Process Group Name": "0", "Process Group Ranks": "[0, 1]"}
    us = size * (tr.world - 1) / tr.world / BUSBW * 1e6
    extra = dict(meta) if tr.metadata_on_kernels else {}
    if after is not None:
        extra["_after"] = [after]
    tr.op(thread, "record_param_comms", 12.0, meta, [(NCCL[name], 20, us, extra)])
    return tr.gpu_free[20]


def linear(tr, thread, m, k, n, kind):
    tr.op(thread, "aten::mm", 14.0, {"Input Dims": [[m, k], [k, n]], "Input type": [BF16, BF16]},
          [(GEMM_NAMES[kind], 7, gemm_us(m, k, n, kind), {})])


def elementwise(tr, thread, name, dims, kname=ELEM):
    nbytes = 2.0 * (sum(_numel(d) for d in dims) + max(_numel(d) for d in dims))
    tr.op(thread, name, 9.0, {"Input Dims": dims, "Input type": [BF16] * len(dims)}, [(kname, 7, elem_us(nbytes), {})])


def _numel(d):
    n = 1
    for x in d:
        n *= x
    return n


def step(tr, index, t0, micro_steps=1):
    """One optimizer step: `micro_steps` forward-backward passes (gradient accumulation:
    FSDP gathers and reduce-scatters every micro-step), then one optimizer."""
    tr.cpu[tr.main] = t0 + 20.0
    begin = t0
    for i in range(micro_steps):
        if i > 0:
            tr.cpu[tr.main] = max(tr.cpu[tr.main], tr.cpu[tr.bwd]) + 20.0
        micro_step(tr)
    b = tr.bwd
    # The optimizer on the main thread, after the gradients are in.
    tr.cpu[tr.main] = max(tr.cpu[tr.main], tr.cpu[b]) + 20.0
    opt_t0 = tr.cpu[tr.main]
    shard = (LAYERS * LAYER_PARAMS + ROOT_PARAMS) // tr.world
    chunks = 4
    per = shard // chunks
    for _ in range(chunks):
        tr.gpu_free[7] = max(tr.gpu_free[7], tr.gpu_free[20])
        # Fused AdamW: reads param, grad, exp_avg, exp_avg_sq, writes three of them.
        tr.op(tr.main, "aten::_fused_adamw_", 25.0,
              {"Input Dims": [[[per]], [[per]], [[per]], [[per]], [], [], [], [], [], [], [], [], []],
               "Input type": ["TensorList"] * 4 + ["Scalar"] * 9},
              [(ADAM, 7, elem_us(7 * 2.0 * per), {})])
    opt_t1 = tr.cpu[tr.main] + 5.0
    tr.annotate(tr.main, "Optimizer.step#AdamW.step", opt_t0 - 2.0, opt_t1)
    # The step ends when the host has waited for the GPU (loss.item()).
    end = max(tr.gpu_free[7], tr.gpu_free[20]) + 30.0
    tr.annotate(tr.main, "ProfilerStep#%d" % index, begin, end)
    return end + 200.0  # data loading before the next step


def micro_step(tr):
    """One forward and backward of the whole model, with FSDP's collectives."""
    # Forward: the root unit's all-gather (nothing hides it), then each layer's ahead of it.
    ag_done = collective(tr, tr.main, "allgather", ROOT_PARAMS)
    for layer in range(LAYERS):
        ag_done = collective(tr, tr.main, "allgather", LAYER_PARAMS)  # prefetched: hides behind compute
        tr.gpu_free[7] = max(tr.gpu_free[7], ag_done)
        elementwise(tr, tr.main, "aten::mul", [[1, S, H], [H]])
        linear(tr, tr.main, S, H, 3 * H, "fwd")
        tr.op(tr.main, "aten::_scaled_dot_product_flash_attention", 30.0,
              {"Input Dims": [[1, HEADS, S, D]] * 3 + [[], [], [], []],
               "Input type": [BF16] * 3 + ["Scalar", "Scalar", "Scalar", ""],
               "Concrete Inputs": ["", "", "", "0.", "True", "False", ""]},
              [(FA_FWD, 7, attn_fwd_us(), {})])
        linear(tr, tr.main, S, H, H, "fwd")
        elementwise(tr, tr.main, "aten::add", [[1, S, H], [1, S, H]], ADD)
        elementwise(tr, tr.main, "aten::mul", [[1, S, H], [H]])
        linear(tr, tr.main, S, H, 2 * F, "fwd")
        elementwise(tr, tr.main, "aten::mul", [[1, S, F], [1, S, F]])
        linear(tr, tr.main, S, F, H, "fwd")
        elementwise(tr, tr.main, "aten::add", [[1, S, H], [1, S, H]], ADD)
    linear(tr, tr.main, S, H, V, "fwd")
    elementwise(tr, tr.main, "aten::_log_softmax", [[S, V]], SOFTMAX)
    # Backward on the autograd thread, top layer first; each layer's gradients reduce-scattered.
    tr.cpu[tr.bwd] = tr.cpu[tr.main] + 15.0
    node_t0 = tr.cpu[tr.bwd]
    b = tr.bwd

    def node(name, body):
        t = tr.cpu[b]
        tr.cpu[b] = t + 3.0
        body()
        tr.ev({"ph": "X", "cat": "cpu_op", "name": "autograd::engine::evaluate_function: " + name, "pid": tr.pid,
               "tid": b, "ts": round(t, 3), "dur": round(tr.cpu[b] - t, 3), "args": {"External id": 0}})
        tr.cpu[b] += 1.0

    def linear_bwd(m, k, n):
        def body():
            linear(tr, b, m, n, k, "dx")
            linear(tr, b, n, m, k, "dw")
        node("MmBackward0", body)

    node("LogSoftmaxBackward0", lambda: elementwise(tr, b, "aten::_log_softmax_backward_data", [[S, V], [S, V]], SOFTMAX))
    linear_bwd(S, H, V)
    for layer in reversed(range(LAYERS)):
        ag_done = collective(tr, b, "allgather", LAYER_PARAMS)
        tr.gpu_free[7] = max(tr.gpu_free[7], ag_done)
        node("AddBackward0", lambda: elementwise(tr, b, "aten::add", [[1, S, H], [1, S, H]], ADD))
        linear_bwd(S, F, H)
        node("MulBackward0", lambda: elementwise(tr, b, "aten::mul", [[1, S, F], [1, S, F]]))
        linear_bwd(S, H, 2 * F)
        node("MulBackward0", lambda: elementwise(tr, b, "aten::mul", [[1, S, H], [H]]))
        linear_bwd(S, H, H)

        def attn():
            tr.op(b, "aten::_scaled_dot_product_flash_attention_backward", 40.0,
                  {"Input Dims": [[1, HEADS, S, D]] * 5 + [[1, HEADS, S]] + [[], [], [], [], [], [], [], [], []],
                   "Input type": [BF16] * 5 + ["float"] + ["", "", "Scalar", "Scalar", "Scalar", "Scalar", "", "", "Scalar"],
                   "Concrete Inputs": ["", "", "", "", "", "", "", "", "4096", "4096", "0.", "True", "", "", ""]},
                  [(name, 7, attn_bwd_us() * share, {}) for name, share in FA_BWD])
        node("ScaledDotProductFlashAttentionBackward0", attn)
        linear_bwd(S, H, 3 * H)
        node("MulBackward0", lambda: elementwise(tr, b, "aten::mul", [[1, S, H], [H]]))
        collective(tr, b, "reduce_scatter", LAYER_PARAMS, after=tr.gpu_free[7])
    collective(tr, b, "reduce_scatter", ROOT_PARAMS, after=tr.gpu_free[7])


def make_fsdp(folder="synthetic-fsdp-2rank", micro_steps=1, seed=17):
    out = os.path.join(HERE, folder)
    os.makedirs(out, exist_ok=True)
    for rank in range(2):
        tr = Trace(rank, 2, seed=seed + 31 * rank, metadata_on_kernels=(rank == 0))
        t = 1.0e6 + 3.0 * rank
        for i in range(2):
            t = step(tr, 10 + i, t, micro_steps)
        tr.write(os.path.join(out, "rank%d.json" % rank))


def make_families():
    """One kernel of each family the classifier knows, names as their libraries write them."""
    out = os.path.join(HERE, "synthetic-families")
    os.makedirs(out, exist_ok=True)
    tr = Trace(0, 1, seed=5, metadata_on_kernels=True)
    tr.cpu[tr.main] = 100.0
    names = [
        ("aten::mm", "volta_sgemm_128x64_nn"),
        ("aten::mm", "ampere_bf16_s16816gemm_bf16_128x64_ldg8_f2f_stages_64x4_tn"),
        ("aten::mm", "sm90_xmma_gemm_bf16bf16_bf16f32_f32_tn_n_tilesize128x256x64_warpgroupsize2x1x1_execute_segment_k_off_kernel__5x_cublas"),
        ("aten::mm", "nvjet_tst_128x256_64x4_2x1_v_bz_coopA_NNT"),
        ("aten::mm", "void cutlass::Kernel<cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8>(cutlass_80_tensorop_bf16_s16816gemm_relu_bf16_64x64_64x4_tn_align8::Params)"),
        ("aten::mm", "void cublasLt::splitKreduce_kernel<32, 16, int, float, __nv_bfloat16, float, __nv_bfloat16, true, false, false>(cublasLt::cublasSplitKParams<float>, float const*, __nv_bfloat16 const*, __nv_bfloat16*, float const*, float const*, __nv_bfloat16 const*, float const*, __nv_bfloat16*, void*, long, float*, int*)"),
        ("aten::_scaled_dot_product_flash_attention", FA_FWD),
        ("aten::_scaled_dot_product_flash_attention_backward", FA_BWD[1][0]),
        ("flash_attn::_flash_attn_forward", "void cutlass::device_kernel<flash::enable_sm90_or_later<flash::FlashAttnFwdSm90<flash::CollectiveMainloopFwdSm90<2, cute::tuple<cute::C<1>, cute::C<1>, cute::C<1> >, cute::tuple<cute::C<128l>, cute::C<128l>, cute::C<128l> >, 128, cutlass::bfloat16_t, float, cutlass::arch::Sm90, true, false, false, false, false, false, false, false, true, false, false, false> > > >(flash::FlashAttnFwdSm90<...>::Params)"),
        ("aten::_scaled_dot_product_cudnn_attention", "cudnn_generated_fort_native_sdpa_sm80_flash_fprop_wmma_f16_knob_3_64x64x128_4x1x1_kernel0_0"),
        ("aten::_scaled_dot_product_efficient_attention", "fmha_cutlassF_bf16_aligned_64x64_rf_sm80(PyTorchMemEffAttention::AttentionKernel<cutlass::bfloat16_t, cutlass::arch::Sm80, true, 64, 64, 64, true, true>::Params)"),
        ("record_param_comms", "ncclKernel_AllReduce_RING_LL_Sum_float(ncclWorkElem)"),
        ("record_param_comms", "ncclDevKernel_SendRecv(ncclDevKernelArgsStorage<4096ul>)"),
        ("record_param_comms", "ncclDevKernel_Broadcast_RING_LL(ncclDevKernelArgsStorage<4096ul>)"),
        ("aten::add", ADD),
        ("aten::native_layer_norm", "void at::native::(anonymous namespace)::vectorized_layer_norm_kernel<c10::BFloat16, float>(int, float, c10::BFloat16 const*, c10::BFloat16 const*, c10::BFloat16 const*, float*, float*, c10::BFloat16*)"),
        ("triton_poi_fused_add_mul_0", "triton_poi_fused_add_mul_0"),
        ("aten::_fused_adamw_", ADAM),
        ("my_extension::op", "my_custom_kernel(float*, int)"),
    ]
    for opname, kname in names:
        tr.op(tr.main, opname, 10.0, {}, [(kname, 7, 5.0, {})])
    tr.write(os.path.join(out, "trace.json"))


if __name__ == "__main__":
    make_fsdp()
    # Gradient accumulation: two micro-steps per optimizer step (global batch 4 over dp 2).
    make_fsdp("synthetic-fsdp-2rank-accum2", micro_steps=2, seed=23)
    make_families()
