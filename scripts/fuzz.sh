#!/usr/bin/env bash
# Builds the libFuzzer targets of tests/fuzz/ into ./build-fuzz (clang; the CMake option
# RAMETCD_FUZZ instruments everything for libFuzzer + ASan + UBSan) and runs each one for SECONDS
# on a copy of its seed corpus tests/fuzz/corpus/<target>/, which a run never changes.
#
#   scripts/fuzz.sh [--merge] [SECONDS] [TARGET...]   SECONDS defaults to 60, TARGETs to all
#
# --merge (for longer local runs): afterwards, adds the inputs of the run (up to 32 KiB) that
# reach new coverage to tests/fuzz/corpus/<target>/; review them before committing.
# Exits non-zero when a target crashed, failed a check, leaked, took over 10 s on one input or
# used over 2 GiB, after printing the reproducer's path. Replay one with
#   build-fuzz/tests/fuzz/<target> <reproducer>
# Run logs and the grown corpora are in build-fuzz/fuzz-runs/<target>/.
set -euo pipefail
cd "$(dirname "$0")/.."

merge=0
if [[ "${1:-}" == "--merge" ]]; then
  merge=1
  shift
fi
seconds=60
if [[ "${1:-}" =~ ^[0-9]+$ ]]; then
  seconds=$1
  shift
fi
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] ||
  targets=(bbolt_reader_fuzz etcd_backend_fuzz request_fuzz wal_recovery_fuzz history_ring_fuzz)

cxx=clang++
command -v "$cxx" >/dev/null || cxx=clang++-14  # Debian's clang-14 without the clang package
start=$SECONDS
CC=${cxx/++/} CXX=$cxx cmake -S . -B build-fuzz -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DRAMETCD_FUZZ=ON >/dev/null
cmake --build build-fuzz -j "$(nproc)" --target "${targets[@]}"
built=$SECONDS

if ! command -v llvm-symbolizer >/dev/null && [[ -x /usr/bin/llvm-symbolizer-14 ]]; then
  export ASAN_SYMBOLIZER_PATH=/usr/bin/llvm-symbolizer-14
fi
export ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
failed=()
for target in "${targets[@]}"; do
  work=build-fuzz/fuzz-runs/$target
  rm -rf "$work"
  mkdir -p "$work/corpus" "$work/artifacts"
  cp -r "tests/fuzz/corpus/$target/." "$work/corpus/"
  # A target's own dictionary tests/fuzz/<target>.dict; the bbolt targets share bbolt.dict.
  dict=()
  case $target in
    bbolt_reader_fuzz | etcd_backend_fuzz) dict=(-dict=tests/fuzz/bbolt.dict) ;;
    *) [[ ! -f tests/fuzz/$target.dict ]] || dict=(-dict="tests/fuzz/$target.dict") ;;
  esac
  echo "--- $target: ${seconds}s on a copy of tests/fuzz/corpus/$target ($work/log)"
  if ! "build-fuzz/tests/fuzz/$target" -max_total_time="$seconds" -max_len=65536 \
    -rss_limit_mb=2048 -timeout=10 "${dict[@]}" -print_final_stats=1 \
    -artifact_prefix="$work/artifacts/" "$work/corpus" >"$work/log" 2>&1; then
    failed+=("$target")
    tail -n 60 "$work/log"
    echo "!!! $target failed; reproducer(s):"
    find "$work/artifacts" -type f ! -name 'slow-unit-*' -printf '    %p\n'
    continue
  fi
  # The last status line and the final stats: coverage, corpus, speed.
  grep -aE '^#[0-9]+[[:space:]]+DONE' "$work/log" | tail -n 1 | sed 's/^/    /' || true
  grep -aE '^stat::(number_of_executed_units|average_exec_per_sec|peak_rss_mb)' "$work/log" |
    sed 's/^/    /' || true
  if [[ $merge -eq 1 ]]; then
    mkdir -p "$work/small"
    find "$work/corpus" -type f -size -32769c -exec cp {} "$work/small/" \;
    before=$(ls "tests/fuzz/corpus/$target" | wc -l)
    "build-fuzz/tests/fuzz/$target" -merge=1 -max_len=65536 -rss_limit_mb=2048 -timeout=10 \
      "tests/fuzz/corpus/$target" "$work/small" >"$work/merge.log" 2>&1
    echo "    --merge: tests/fuzz/corpus/$target: $before -> $(ls "tests/fuzz/corpus/$target" | wc -l) files"
  fi
done
echo "fuzz.sh: build $((built - start))s, fuzzing $((SECONDS - built))s"
if [[ ${#failed[@]} -gt 0 ]]; then
  echo "fuzz.sh: FAILED: ${failed[*]}" >&2
  exit 1
fi
