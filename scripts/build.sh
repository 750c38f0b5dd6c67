#!/usr/bin/env bash
# Configures and builds rametcd into ./build (RelWithDebInfo). Extra arguments are ninja targets.
set -euo pipefail
cd "$(dirname "$0")/.."
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -- "$@"
