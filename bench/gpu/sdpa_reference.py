#!/usr/bin/env python3
"""PyTorch's scaled_dot_product_attention on the shapes bench_attention_speed timed.

Reads the JSON that bench_attention_speed wrote (--ours), times SDPA forward and backward on
the same shapes and the same GPU, once with PyTorch's default dispatch and once with each
backend forced through torch.nn.attention.sdpa_kernel (FLASH_ATTENTION, EFFICIENT_ATTENTION,
CUDNN_ATTENTION; a backend that refuses a shape is reported as such), and prints a
fixed-column table with our rate next to each, plus a JSON file (--json).

Layout: tensors are allocated [batch, rows, heads, head_dim], like the executor's buffers,
and handed to SDPA as transposed views [batch, heads, rows, head_dim]. GQA uses
enable_gqa=True. Causal shapes are square with both offsets 0, which is SDPA's is_causal.
Timing: CUDA events, warm-up, median of --reps, fresh random N(0,1) inputs, rotating among
input sets that together exceed twice the L2 cache. FLOPs as in attention_speed.cu: forward
4*B*H*d*allowed_pairs, backward 2.5x forward.
"""
import argparse
import contextlib
import json
import statistics
import sys

import torch
import torch.nn.functional as F
from torch.nn.attention import SDPBackend, sdpa_kernel

BACKENDS = [
    ("default", None),
    ("flash", SDPBackend.FLASH_ATTENTION),
    ("efficient", SDPBackend.EFFICIENT_ATTENTION),
    ("cudnn", SDPBackend.CUDNN_ATTENTION),
]


def allowed_pairs(q, kv, causal):
    if not causal:
        return q * kv
    return sum(min(kv, i + 1) for i in range(q))


def make_sets(s, dtype, l2_bytes, need_grad):
    q_n = s["q_rows"] * s["heads"] * s["head_dim"]
    kv_n = s["kv_rows"] * s["kv_heads"] * s["head_dim"]
    set_bytes = (3 * q_n + 2 * kv_n) * 2
    n_sets = max(1, min(8, -(-2 * l2_bytes // set_bytes)))
    sets = []
    for _ in range(n_sets):
        def t(rows, heads):
            x = torch.randn(1, rows, heads, s["head_dim"], device="cuda", dtype=dtype)
            return x.requires_grad_(need_grad)
        q, k, v = t(s["q_rows"], s["heads"]), t(s["kv_rows"], s["kv_heads"]), t(s["kv_rows"], s["kv_heads"])
        dout = torch.randn(1, s["heads"], s["q_rows"], s["head_dim"], device="cuda", dtype=dtype)
        sets.append((q, k, v, dout))
    return sets


def sdpa(s, q, k, v):
    return F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2),
                                          is_causal=s["causal"], enable_gqa=s["kv_heads"] != s["heads"])


def median_ms(fn, n_sets, warmup, reps):
    for i in range(warmup):
        fn(i % n_sets)
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    times = []
    for i in range(reps):
        start.record()
        fn(i % n_sets)
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end))
    return statistics.median(times)


def dispatched_kernel(s, sets):
    """Names of the attention kernels the default dispatch launched (from the profiler)."""
    q, k, v, _ = sets[0]
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CUDA]) as prof:
        with torch.no_grad():
            sdpa(s, q, k, v)
        torch.cuda.synchronize()
    names = [e.key for e in prof.key_averages()]
    hits = [n for n in names if any(w in n.lower() for w in ("flash", "fmha", "cudnn", "attention", "sdpa", "mem_eff"))]
    return hits[0][:60] if hits else ";".join(n[:30] for n in names[:2])


def time_shape(s, backend, l2_bytes, reps, fwd_only):
    dtype = torch.bfloat16 if s["dtype"] == "bf16" else torch.float16
    sets = make_sets(s, dtype, l2_bytes, need_grad=not fwd_only)
    flops = 4.0 * s["heads"] * s["head_dim"] * allowed_pairs(s["q_rows"], s["kv_rows"], s["causal"])
    row = {"backend": backend[0]}
    ctx = sdpa_kernel([backend[1]]) if backend[1] is not None else contextlib.nullcontext()
    try:
        with ctx:
            def fwd(i):
                q, k, v, _ = sets[i]
                with torch.no_grad():
                    sdpa(s, q, k, v)
            ms = median_ms(fwd, len(sets), 3, reps)
            row["fwd_time_us"] = 1e3 * ms
            row["fwd_rate_tflops"] = flops / (ms * 1e-3) / 1e12
            if backend[1] is None:
                row["kernel"] = dispatched_kernel(s, sets)
            if not fwd_only:
                outs = [sdpa(s, q, k, v) for (q, k, v, _) in sets]

                def bwd(i):
                    q, k, v, dout = sets[i]
                    torch.autograd.grad(outs[i], (q, k, v), dout, retain_graph=True)
                ms = median_ms(bwd, len(sets), 2, reps)
                row["bwd_time_us"] = 1e3 * ms
                row["bwd_rate_tflops"] = 2.5 * flops / (ms * 1e-3) / 1e12
    except RuntimeError as e:  # the backend refuses this shape
        row["error"] = str(e).splitlines()[0][:120]
    del sets
    torch.cuda.empty_cache()
    return row


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--ours", required=True, help="JSON written by bench_attention_speed --json")
    ap.add_argument("--json", help="where to write this script's results")
    ap.add_argument("--reps", type=int, default=15)
    ap.add_argument("--fwd-only", action="store_true")
    ap.add_argument("--backends", default="default,flash,efficient,cudnn")
    args = ap.parse_args()
    ours = json.load(open(args.ours))["results"]
    props = torch.cuda.get_device_properties(0)
    l2 = getattr(props, "L2_cache_size", 50 << 20)
    wanted = set(args.backends.split(","))
    print(f"# torch {torch.__version__} scaled_dot_product_attention on {props.name}, batch 1, "
          f"median of {args.reps} reps; 'ours' from {args.ours}")
    hdr = ("dtype", "d", "heads", "kv_heads", "q_rows", "kv_rows", "causal", "backend", "fwd_time", "fwd_rate",
           "ours_fwd", "fwd_ratio", "bwd_time", "bwd_rate", "ours_bwd", "bwd_ratio")
    units = ("-", "-", "-", "-", "rows", "rows", "-", "-", "us", "TFLOP/s", "TFLOP/s", "ours/torch", "us", "TFLOP/s",
             "TFLOP/s", "ours/torch")
    fmt = "{:>5} {:>4} {:>5} {:>8} {:>7} {:>7} {:>6} {:>9} {:>10} {:>9} {:>9} {:>10} {:>10} {:>9} {:>9} {:>10}"
    print("# " + fmt.format(*hdr))
    print("# " + fmt.format(*units))
    out = []
    for s in ours:
        for b in BACKENDS:
            if b[0] not in wanted:
                continue
            r = time_shape(s, b, l2, args.reps, args.fwd_only)
            rec = {k: s[k] for k in ("dtype", "head_dim", "heads", "kv_heads", "q_rows", "kv_rows", "causal")}
            rec.update(r)
            out.append(rec)
            if "error" in r:
                print("  " + fmt.format(s["dtype"], s["head_dim"], s["heads"], s["kv_heads"], s["q_rows"],
                                        s["kv_rows"], "yes" if s["causal"] else "no", b[0], "refused", "-", "-",
                                        "-", "-", "-", "-", "-") + "  " + r["error"][:60])
                continue
            fr = r["fwd_rate_tflops"]
            br = r.get("bwd_rate_tflops")
            print("  " + fmt.format(
                s["dtype"], s["head_dim"], s["heads"], s["kv_heads"], s["q_rows"], s["kv_rows"],
                "yes" if s["causal"] else "no", b[0], f"{r['fwd_time_us']:.1f}", f"{fr:.1f}",
                f"{s['fwd_rate_tflops']:.1f}", f"{s['fwd_rate_tflops'] / fr:.2f}",
                f"{r['bwd_time_us']:.1f}" if br else "-", f"{br:.1f}" if br else "-",
                f"{s['bwd_rate_tflops']:.1f}" if br else "-",
                f"{s['bwd_rate_tflops'] / br:.2f}" if br and s.get("bwd_rate_tflops") else "-")
                + (f"  {r['kernel']}" if "kernel" in r else ""), flush=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"device": props.name, "torch": torch.__version__, "results": out}, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
