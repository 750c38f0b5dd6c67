#!/usr/bin/env bash
# Installs what is missing (including etcd 3.4 and etcdctl, the reference the differential and
# end-to-end tests compare against), builds everything and runs the whole test suite with ctest.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh --test
scripts/build.sh
cd build
ctest --output-on-failure --timeout 600
