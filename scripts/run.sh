#!/usr/bin/env bash
# Installs what is missing, builds rametcd and runs it. With no arguments it serves the etcd v3
# API on 127.0.0.1:2379 with the data dir ./default.etcd; arguments are passed to rametcd.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/install-deps.sh
scripts/build.sh rametcd
exec build/src/server/rametcd "$@"
