#!/usr/bin/env bash
# The sanitizer and fuzz stage (CI runs it after scripts/test.sh): a second build (build-asan) with
# clang, AddressSanitizer and UndefinedBehaviorSanitizer (any UB report fails), the test suite once
# under them, then each libFuzzer target in fuzz/ for a bounded time over its committed corpus.
# Usage: scripts/sanitize.sh [seconds per fuzz target]   (default 30; 0 replays the corpora only)
# A fuzzer that finds a crash fails the stage and prints the reproducer's path (under
# build-asan/fuzz-findings/); rerun it with `build-asan/fuzz/fuzz_X PATH`, and commit it to
# fuzz/corpus/fuzz_X/ with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
fuzz_seconds=${1:-30}
build_dir=build-asan

# Only this stage needs clang and libFuzzer (libclang-rt-16-dev), and clang's OpenMP (libomp-16-dev).
# clang 16, not Debian's default 14: the code captures structured bindings in lambdas (C++20), which
# clang 14 rejects.
packages=(clang-16 libclang-rt-16-dev libomp-16-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "sanitize: installing ${missing[*]}"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

stage_start=$SECONDS
stamp() { echo "sanitize: $1 took $((SECONDS - $2)) s"; }
# CPU seconds (user + system) of the finished children of this script: on a shared machine the wall
# time says little, this says what the stage costs (divide by the cores for a dedicated machine).
cpu() { echo "sanitize: CPU time so far: $(awk -v hz="$(getconf CLK_TCK)" '{printf "%.0f", ($16 + $17) / hz}' /proc/$$/stat) s"; }

# -O1: the tests' run time is in uninlined Boost.Multiprecision templates at -O0 (which
# would halve the compile time); line tables only (enough for the sanitizers' stack traces) save 15%
# of the compile time over -g. Asserts stay on (no NDEBUG), as in the normal build.
# Not built here: reference_tests (a sixth of the build; the reference kernels still run under the
# sanitizers, every op forward and backward at 256 bits, through cli/suites_test and cases_tests).
sanitizers="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
t=$SECONDS
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Sanitize -DGRADSPEC_FUZZ=ON \
  -DCMAKE_CXX_COMPILER=clang++-16 \
  -DCMAKE_CXX_FLAGS="-O1 -gline-tables-only -fno-omit-frame-pointer $sanitizers" \
  -DCMAKE_EXE_LINKER_FLAGS="$sanitizers" >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target gradspec cases_tests checkers_tests cli_tests \
  fuzz_case_file fuzz_results fuzz_summary fuzz_adapter_lines
stamp "sanitizer build" "$t"
cpu

# Leak checking is on (ASan's default); halt_on_error makes any report fail the test that caused it.
export ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=0:detect_stack_use_after_return=0
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

# The C++ suites of cases, checkers and cli (which drives the sanitized gradspec binary through
# every verb, hostile adapters and hundreds of malformed files). reference/* is not built here (a
# sixth of the build; the kernels run under the sanitizers through cli/suites_test, which
# regenerates every committed suite). The Python-driven suites (kits, schemas, zoo, the mpmath
# cross-check, the PyTorch self-test) repeat the same gradspec paths many times over and are left
# to the normal run (zoo/every_bug_caught alone: 274 s of 439 s measured under the sanitizers), to
# keep CI within 30 minutes on 2 cores; so is cli/slides_and_pytorch_test (88 s under the
# sanitizers: PyTorch over the standard and edge suites in three dtypes, paths the other cli tests
# take with hostile adapters) and cli/shard_merge_test (54 s: it generates the edge suite five
# times; merge reads shards with the case-file reader fuzz_case_file covers).
t=$SECONDS
ctest --test-dir "$build_dir" --output-on-failure -j "$(nproc)" -R '^(cases|checkers|cli)/' -E '^cli/(slides_and_pytorch_test|shard_merge_test)$'
stamp "sanitizer tests" "$t"
cpu

# Each target: its committed corpus replayed, then mutated for fuzz_seconds (fixed seed). New inputs
# go to a scratch folder, not into the committed corpus; a crash lands in build-asan/fuzz-findings/.
# CI passes GRADSPEC_CI_DEADLINE (epoch seconds): the fuzzing time per target shrinks to fit before
# it, down to a replay of the corpora. 0 seconds replays only (-runs=0: libFuzzer's
# -max_total_time=0 would mean no limit).
if [ -n "${GRADSPEC_CI_DEADLINE:-}" ]; then
  targets=$(ls -d fuzz/corpus/*/ | wc -l)
  left=$(( (GRADSPEC_CI_DEADLINE - $(date +%s) - 30) / targets ))
  ((left < 0)) && left=0
  if ((left < fuzz_seconds)); then
    echo "sanitize: fuzzing $left s per target instead of $fuzz_seconds (CI time budget)"
    fuzz_seconds=$left
  fi
fi
if ((fuzz_seconds > 0)); then fuzz_limit=(-max_total_time="$fuzz_seconds"); else fuzz_limit=(-runs=0); fi
t=$SECONDS
findings="$build_dir/fuzz-findings"
rm -rf "$findings"
mkdir -p "$findings"
status=0
for corpus in fuzz/corpus/*/; do
  target=$(basename "$corpus")
  scratch="$build_dir/fuzz-scratch/$target"
  rm -rf "$scratch"
  mkdir -p "$scratch"
  log="$findings/$target.log"
  if "$build_dir/fuzz/$target" "$scratch" "$corpus" -seed=1 "${fuzz_limit[@]}" -rss_limit_mb=2048 \
      -timeout=10 -max_len=16384 -print_final_stats=1 -artifact_prefix="$findings/$target-" >"$log" 2>&1; then
    echo "sanitize: $target: $(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$') runs," \
      "$(grep -m1 -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$') exec/s, no crash"
  else
    status=1
    tail -n 60 "$log"
    echo "sanitize: $target FOUND A CRASH; reproducer: $(ls "$findings/$target-"* 2>/dev/null | tr '\n' ' ')"
    echo "sanitize: rerun with $build_dir/fuzz/$target REPRODUCER; full log: $log"
  fi
done
stamp "fuzzing" "$t"
cpu
stamp "sanitizer + fuzz stage" "$stage_start"
exit $status
