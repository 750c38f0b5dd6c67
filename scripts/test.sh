#!/usr/bin/env bash
# Installs what is missing (including etcd 3.4 and etcdctl, the reference the differential and
# end-to-end tests compare against), builds everything and runs the whole test suite with ctest,
# then builds and runs it again under AddressSanitizer + UndefinedBehaviorSanitizer (the servers
# the tests start are instrumented too), and last runs each libFuzzer target (scripts/fuzz.sh) for
# RAMETCD_FUZZ_SECONDS seconds (default 60).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
(cd build && ctest --output-on-failure --timeout 600)

echo "=== the same suite under ASan + UBSan ==="
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DRAMETCD_SANITIZE=address \
  -DRAMETCD_BUILD_BENCH=OFF >/dev/null
cmake --build build-asan
(cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1 \
  ctest --output-on-failure --timeout 900)

fuzz_seconds=${RAMETCD_FUZZ_SECONDS:-60}
echo "=== fuzzing (${fuzz_seconds} s per target) ==="
scripts/fuzz.sh "$fuzz_seconds"
