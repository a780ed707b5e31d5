#!/usr/bin/env bash
# CI stage (docs/limits.md, "How this is kept"): each libFuzzer harness of tests/fuzz/ runs
# for a bounded time (FUZZ_SECONDS, default 60) from its seed corpus and its regressions,
# under AddressSanitizer and UndefinedBehaviorSanitizer. Any finding — a crash, an
# exception other than the parser's refusal, a sanitizer report, a leak, an input that
# takes longer than FUZZ_TIMEOUT seconds (default 10) or more than 2 GB — fails the stage;
# the input that found it is printed (base64) and kept in build-ci-sanitizers/fuzz/.
# Runs inside .ci/run's fresh Debian 12 root as root, from /ci/xattn, after
# 20-sanitizers.sh, whose build it reuses (it builds it when run alone).
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
say() { echo ".ci/stages/30-fuzz: $*"; }
seconds=${FUZZ_SECONDS:-60}
timeout_s=${FUZZ_TIMEOUT:-10}

if ! command -v clang++-14 >/dev/null || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
  say "installing clang-14 and libclang-rt-14-dev"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
fi
build=build-ci-sanitizers
harnesses=(scenario overrides sweep calibration nccl_tests trace validation_set)
if [ ! -f "$build/CMakeCache.txt" ]; then
  cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DXATTN_FUZZ=ON \
    -DXATTN_SANITIZE=address,undefined -DXATTN_GPU=OFF -DXATTN_GUI=OFF -DXATTN_BUILD_BENCH=OFF >"$build.configure.log" \
    || { cat "$build.configure.log"; exit 1; }
fi
targets=()
for h in "${harnesses[@]}"; do targets+=("${h}_fuzz"); done
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}" >"$build.fuzz-build.log" 2>&1 || { tail -50 "$build.fuzz-build.log"; exit 1; }
say "harnesses ready in $(( $(date +%s) - started )) s; ${seconds} s each"

export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
work="$build/fuzz"
rm -rf "$work"
failed=0
declare -a lines=()
for h in "${harnesses[@]}"; do
  mkdir -p "$work/$h/corpus" "$work/$h/findings"
  # The repository's corpus is read, never written: new inputs go to the work folder.
  dirs=("$work/$h/corpus" "tests/fuzz/corpus/$h")
  [ -d "tests/fuzz/regressions/$h" ] && dirs+=("tests/fuzz/regressions/$h")
  dict=()
  [ -f "tests/fuzz/$h.dict" ] && dict=("-dict=tests/fuzz/$h.dict")
  status=0
  "$build/tests/fuzz/${h}_fuzz" -max_total_time="$seconds" -timeout="$timeout_s" -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$work/$h/findings/" "${dict[@]}" "${dirs[@]}" >"$work/$h.log" 2>&1 || status=$?
  # A run that ended on a finding prints no final stats: these find nothing then, and under
  # pipefail that must not end the stage before it reports the finding.
  runs=$(grep -oE "stat::number_of_executed_units: *[0-9]+" "$work/$h.log" | grep -oE "[0-9]+$" | tail -1 || true)
  rate=$(grep -oE "exec/s: *[0-9]+" "$work/$h.log" | tail -1 | grep -oE "[0-9]+$" || true)
  cov=$(grep -oE "cov: [0-9]+" "$work/$h.log" | tail -1 | grep -oE "[0-9]+$" || true)
  found=$(find "$work/$h/findings" -type f | wc -l)
  if [ "$status" -ne 0 ] || [ "$found" -ne 0 ]; then
    failed=1
    lines+=("$(printf '%-15s FAILED (exit %s): %s executions, %s finding(s)' "$h" "$status" "${runs:-?}" "$found")")
    grep -E "ERROR|SUMMARY|==[0-9]+==|terminate|Test unit written|ALARM|timeout" "$work/$h.log" | head -20 || true
    for f in "$work/$h/findings"/*; do
      [ -f "$f" ] || continue
      echo "--- $f (base64):"
      base64 -w 0 "$f" | head -c 4000
      echo
    done
  else
    lines+=("$(printf '%-15s ok: %s executions, %s exec/s, coverage %s, no findings' "$h" "${runs:-?}" "${rate:-?}" "${cov:-?}")")
  fi
done
say "per harness (${seconds} s each):"
printf '.ci/stages/30-fuzz:   %s\n' "${lines[@]}"
say "stage done in $(( $(date +%s) - started )) s"
exit "$failed"
