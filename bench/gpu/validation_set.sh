#!/usr/bin/env bash
# Issue 6's validation set on one GPU (docs/validation.md §4): calibrate the kernels and
# the paced loopback link, then run LV-XAttn, Ring and Ulysses, forward and backward, at
# P = 2 and 4 on two shapes, with both compute placements; write every measured trace and
# the calibrations under OUTDIR, and the set files `xattn validate --set-file` reads.
#
#   bench/gpu/validation_set.sh OUTDIR [XATTN]
#
# Shapes: Llama-3.2-11B-Vision's cross-attention (32 query heads, 8 key/value heads, d
# 128, bf16) with 4096 tokens per frame, so that every block is a power of two and lands
# on the calibration grid: A = 2048 text x 8 frames (32768 visual tokens), B = 4096 text x
# 16 frames (65536). Link: 4 GB/s and 10 us per message, paced: at P = 4 the four
# concurrent messages of a ring round then stay under the ~26 GB/s that the pinned-host
# round trip measured on the H100 (docs/gpu_backend.md), so the pacing, not PCIe, sets
# the message time.
#
# Validation itself needs no GPU: run `xattn validate --scenario SCENARIO --set-file
# OUTDIR/serial.yaml` (and per-rank.yaml) anywhere.
set -euo pipefail
out=${1:?usage: validation_set.sh OUTDIR [XATTN]}
x=${2:-build/cli/xattn}
scenario=${SCENARIO:-scenarios/loopback-h100.yaml}
bw=${LINK_GBPS:-4}
lat=${LINK_US:-10}
mkdir -p "$out"
log() { printf '# %s\n' "$*" >&2; }

# Compute tables at the head counts the blocks have: 32/8 for LV-XAttn and Ring, H/P for
# Ulysses (16/4 at P = 2, 8/2 at P = 4); the first also measures the link.
grid=(--q-rows 512,1024,2048,4096 --kv-rows 8192,16384,32768,65536 --head-dim 128 --dtype bf16)
log "calibrate: heads 32/8 and the loopback link at ${bw} GB/s, ${lat} us"
"$x" calibrate gpu --out "$out/h32.yaml" --heads 32 --kv-heads 8 "${grid[@]}" \
  --link-bandwidth "$bw" --link-latency "$lat" | tee "$out/calibrate-h32.txt"
log "calibrate: heads 16/4 and 8/2 (Ulysses blocks)"
"$x" calibrate gpu --out "$out/h16.yaml" --heads 16 --kv-heads 4 "${grid[@]}" --no-link > "$out/calibrate-h16.txt"
"$x" calibrate gpu --out "$out/h8.yaml" --heads 8 --kv-heads 2 "${grid[@]}" --no-link > "$out/calibrate-h8.txt"

for placement in serial per-rank; do
  set_file="$out/$placement.yaml"
  {
    echo "# Written by bench/gpu/validation_set.sh: compute placement $placement"
    echo "calibration: h32.yaml"
    echo "cases:"
  } > "$set_file"
  for shape in A B; do
    if [ $shape = A ]; then text=2048; frames=8; else text=4096; frames=16; fi
    for P in 2 4; do
      for m in lv-xattn ring ulysses; do
        for pass in fwd bwd; do
          name="$placement-$shape-p$P-$m-$pass"
          log "run $name"
          "$x" run "$scenario" -m $m -p $pass -P $P --transport loopback --compute $placement \
            --link-bandwidth "$bw" --link-latency "$lat" --dtype bf16 --reps 5 --warmup 1 \
            --set workload.text_tokens=$text --set workload.frames=$frames --set workload.tokens_per_frame=4096 \
            --trace "$out/$name.json" > "$out/$name.txt"
          if [ $m = ulysses ]; then
            heads=$([ $P = 2 ] && echo h16 || echo h8)
            printf '  - measured: %s.json\n    calibration: [h32.yaml, %s.yaml]\n' "$name" "$heads" >> "$set_file"
          else
            printf '  - %s.json\n' "$name" >> "$set_file"
          fi
        done
      done
    done
  done
done
log "done: $(ls "$out"/*.json | wc -l) traces in $out"
