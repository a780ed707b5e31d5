#!/usr/bin/env bash
# CI stage (docs/limits.md, "How this is kept"): the whole host test suite built with
# AddressSanitizer and UndefinedBehaviorSanitizer (clang 14 from Debian's packages), any
# report fatal. Runs inside .ci/run's fresh Debian 12 root as root, from the repository's
# copy at /ci/xattn, after the README's test command (whose packages it reuses); runs on
# its own too, from a checkout, as root on Debian 12. No CUDA (the device code is not
# host code) and no Qt (its own allocations are not ours to judge).
#
# The build is shared with 30-fuzz.sh (same folder, same flags: XATTN_FUZZ adds only the
# coverage hooks libFuzzer reads), so the fuzz stage reuses it instead of building again.
# Open MPI's own leaks are suppressed by name (.ci/lsan-openmpi.supp); nothing else is.
# Its plugins are kept mapped until the leak check (.ci/keep-plugins.c) so that they can be.
set -euo pipefail
cd "$(dirname "$0")/../.."
started=$(date +%s)
say() { echo ".ci/stages/20-sanitizers: $*"; }

if ! command -v clang++-14 >/dev/null || ! dpkg -s libclang-rt-14-dev >/dev/null 2>&1; then
  say "installing clang-14 and libclang-rt-14-dev"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends clang-14 libclang-rt-14-dev >/dev/null
fi

build=build-ci-sanitizers
say "configure and build ($build: clang-14, address,undefined, XATTN_FUZZ=ON, no CUDA, no Qt)"
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++-14 -DXATTN_FUZZ=ON \
  -DXATTN_SANITIZE=address,undefined -DXATTN_GPU=OFF -DXATTN_GUI=OFF -DXATTN_BUILD_BENCH=OFF >"$build.configure.log" \
  || { cat "$build.configure.log"; exit 1; }
grep -E "^--   (sanitizers|MPI bootstrap)" "$build.configure.log" || true
cmake --build "$build" -j"$(nproc)" >"$build.build.log" 2>&1 || { tail -50 "$build.build.log"; exit 1; }
say "built in $(( $(date +%s) - started )) s"

# Every sanitizer finding aborts the test that made it; LSan reads the suppressions; the
# test helpers that start processes pass these variables on to them.
# Two settings for Open MPI's processes: fast_unwind_on_malloc=0, because Open MPI allocates
# through libc's asprintf and libc has no frame pointers, so the fast unwinder's stack stops
# in libc before the Open MPI frame a suppression names; intercept_tls_get_addr=0, because
# LLVM 14's leak checker misreads glibc 2.36's dynamic TLS of Open MPI's threads and its
# stop-the-world tracer crashes ("DTLS 5 at 0x2854-0x400003956", "Tracer caught signal
# 11", seen under mpiexec in SweepMpi). Costs: the suite takes about 7 min instead of 3.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1:strict_string_checks=1:detect_stack_use_after_return=1:fast_unwind_on_malloc=0:intercept_tls_get_addr=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$(pwd)/.ci/lsan-openmpi.supp:print_suppressions=0"
# Open MPI's plugins stay mapped until the leak check, so their frames can be named
# (.ci/keep-plugins.c says why).
clang-14 -shared -fPIC -O1 -o "$build/keep-plugins.so" .ci/keep-plugins.c
export LD_PRELOAD="$(pwd)/$build/keep-plugins.so"
tested=$(date +%s)
status=0
ctest --test-dir "$build" --output-on-failure -j"$(nproc)" --timeout 900 2>&1 | tee "$build.ctest.log" || status=$?
say "tests run in $(( $(date +%s) - tested )) s; stage done in $(( $(date +%s) - started )) s"
grep -E "tests passed, [0-9]+ tests failed out of" "$build.ctest.log" | sed 's/^/.ci\/stages\/20-sanitizers: /' || true
exit "$status"
