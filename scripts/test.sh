#!/usr/bin/env bash
# Installs what is missing (including etcd 3.4 and etcdctl, the reference the differential and
# end-to-end tests compare against), builds everything and runs the whole test suite with ctest,
# then builds and runs it again under AddressSanitizer + UndefinedBehaviorSanitizer (the servers
# the tests start are instrumented too; the test code itself and protoc's output get ASan only,
# see tests/CMakeLists.txt), then the concurrency-heavy tests (store, watch hub, WAL
# writer, apply loop, lessor, metrics, and the server under concurrent clients) under
# ThreadSanitizer, and last runs each libFuzzer target (scripts/fuzz.sh) for RAMETCD_FUZZ_SECONDS
# seconds (default 20).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
(cd build && ctest --output-on-failure --timeout 600 -j2)

echo "=== the same suite under ASan + UBSan ==="
# The sanitizer builds use -O1 and line tables only: about half the compile time of -O2 -g (measured
# on kv_service.cc under ASan), with file:line in every report.
sanitizer_flags='-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG'
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$sanitizer_flags" \
  -DRAMETCD_SANITIZE=address -DRAMETCD_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --timeout 900 -j2)

echo "=== the concurrency-heavy tests under TSan ==="
# Every report fails the test: the test binary or the server it started exits at the first one.
# tests/tsan.supp says what is suppressed (orderings made inside Debian's uninstrumented gRPC);
# src/base/tsan_absl_sync.cc makes abseil's Mutex, CondVar, Notification and Barrier visible.
tsan_tests=(tsan_absl_sync_test shared_bytes_test store_test history_ring_test watch_hub_test
            wal_test lessor_test metrics_test apply_loop_test kv_concurrency_test watch_stress_test
            keepalive_test durability_crash_test)
cmake -S . -B build-tsan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$sanitizer_flags" \
  -DRAMETCD_SANITIZE=thread -DRAMETCD_BUILD_BENCH=OFF >/dev/null
cmake --build build-tsan --target rametcd "${tsan_tests[@]}"
(cd build-tsan && TSAN_OPTIONS="halt_on_error=1:ignore_noninstrumented_modules=1:history_size=7:\
second_deadlock_stack=1:suppressions=$PWD/../tests/tsan.supp" \
  ctest --output-on-failure --timeout 900 -R "^($(IFS='|'; echo "${tsan_tests[*]}"))\$")

fuzz_seconds=${RAMETCD_FUZZ_SECONDS:-20}
echo "=== fuzzing (${fuzz_seconds} s per target) ==="
scripts/fuzz.sh "$fuzz_seconds"
