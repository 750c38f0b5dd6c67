#!/usr/bin/env bash
# Times the offline migration between etcd 3.4 and rametcd, both ways, on KEYS keys with values of
# VALUE_BYTES bytes (default 100,000 x 1 KiB), and prints a markdown table of seconds and sizes:
#   etcd -> rametcd: `etcdctl snapshot save`, `rametcd-recover import-etcd`, rametcd start until
#                    it serves (and holds every key);
#   rametcd -> etcd: `rametcd-recover export-etcd-snapshot` (rametcd stopped),
#                    `etcdctl snapshot restore`, etcd start until it serves every key.
# Keys are written by etcd's own load generator `benchmark` (tools/benchmark of etcd 3.4; built by
# ../shared/tools/etcd-peers.sh --benchmark, or pass BENCHMARK=/path).
#
# Usage: bench/migration.sh            (env: KEYS, VALUE_BYTES, BUILD_DIR (default build),
#                                       BENCHMARK, WORK_DIR (default a new dir under $TMPDIR))
# Needs etcd and etcdctl 3.4 (Debian's etcd-server and etcd-client). Everything it starts is
# stopped and its files are removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/servers.sh
source bench/servers.sh

KEYS=${KEYS:-100000}
VALUE_BYTES=${VALUE_BYTES:-1024}
BUILD_DIR=${BUILD_DIR:-build}
export ETCDCTL_API=3

command -v etcd >/dev/null && command -v etcdctl >/dev/null ||
  die "etcd and etcdctl are needed: run ../shared/tools/etcd-peers.sh"
BENCHMARK=$(find_benchmark)

[[ -f $BUILD_DIR/build.ninja ]] || cmake -S . -B "$BUILD_DIR" -G Ninja >/dev/null
cmake --build "$BUILD_DIR" --target rametcd rametcd-recover >/dev/null
RAMETCD=$BUILD_DIR/src/server/rametcd
RECOVER=$BUILD_DIR/tools/recover/rametcd-recover

work=${WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/rametcd-migration.XXXXXX")}
mkdir -p "$work"
cleanup() {
  cleanup_servers
  [[ -n ${WORK_DIR:-} ]] || rm -rf "$work"
}
trap cleanup EXIT

# Waits until the server on `port` answers and holds $KEYS keys.
wait_serving() {  # port
  local deadline=$((SECONDS + 600)) count
  wait_port "$1"
  while ((SECONDS < deadline)); do
    count=$(etcdctl --endpoints="127.0.0.1:$1" --command-timeout=5s get "" --prefix --keys-only \
      --limit=1 -w json 2>/dev/null | grep -o '"count":[0-9]*' | cut -d: -f2)
    [[ ${count:-0} -eq $KEYS ]] && return 0
    sleep 0.05
  done
  die "the server on port $1 did not serve $KEYS keys (last count: ${count:-none})"
}
load() {  # port
  "$BENCHMARK" --endpoints="127.0.0.1:$1" --conns=8 --clients=64 put --key-size=32 \
    --val-size="$VALUE_BYTES" --total="$KEYS" --key-space-size="$KEYS" --sequential-keys \
    >"$work/load-$1.log" 2>&1 || die "benchmark put failed: $(tail -n 5 "$work/load-$1.log")"
}

rows=()
row() { rows+=("| $1 | $2 | $3 |"); }

# etcd -> rametcd ---------------------------------------------------------------------------------
port=$(free_port); peer=$(free_port)
start_etcd "$work/etcd-src" "$port" "$peer"; etcd_pid=$server_pid
wait_up "$port"
t=$(now); load "$port"; row "etcd: load $KEYS keys (benchmark put)" "$(since "$t")" ""
t=$(now); etcdctl --endpoints="127.0.0.1:$port" snapshot save "$work/etcd.db" >/dev/null 2>&1
row "etcdctl snapshot save" "$(since "$t")" "$(mib "$(bytes "$work/etcd.db")") snapshot"
stop "$etcd_pid"
t=$(now); "$RECOVER" import-etcd "$work/rametcd-imported" --from "$work/etcd.db" >"$work/import.log"
row "rametcd-recover import-etcd" "$(since "$t")" "$(mib "$(bytes "$work/rametcd-imported/wal")") WAL"
port=$(free_port)
t=$(now); start_rametcd "$work/rametcd-imported" "$port"; wait_serving "$port"
row "rametcd start on it until serving" "$(since "$t")" ""
stop "$server_pid"

# rametcd -> etcd ---------------------------------------------------------------------------------
port=$(free_port)
start_rametcd "$work/rametcd-src" "$port"; wait_up "$port"
t=$(now); load "$port"; row "rametcd: load $KEYS keys (benchmark put)" "$(since "$t")" ""
stop "$server_pid"
row "rametcd data dir (stopped)" "" "$(mib "$(bytes "$work/rametcd-src/wal")") WAL"
t=$(now); "$RECOVER" export-etcd-snapshot "$work/rametcd-src" "$work/rametcd.db" >"$work/export.log"
row "rametcd-recover export-etcd-snapshot" "$(since "$t")" "$(mib "$(bytes "$work/rametcd.db")") snapshot"
peer=$(free_port)
t=$(now)
etcdctl snapshot restore "$work/rametcd.db" --data-dir "$work/etcd-restored" --name m \
  --initial-cluster "m=http://127.0.0.1:$peer" \
  --initial-advertise-peer-urls "http://127.0.0.1:$peer" >"$work/restore.log" 2>&1 ||
  die "etcdctl snapshot restore failed: $(tail -n 5 "$work/restore.log")"
row "etcdctl snapshot restore" "$(since "$t")" "$(mib "$(bytes "$work/etcd-restored")") etcd data dir"
port=$(free_port)
t=$(now); start_etcd "$work/etcd-restored" "$port" "$peer"; wait_serving "$port"
row "etcd start on it until serving" "$(since "$t")" ""
stop "$server_pid"

echo "Offline migration, $KEYS keys x $VALUE_BYTES-byte values ($(nproc) cores, $(uname -r))"
echo
echo "| Step | Seconds | Size |"
echo "| --- | ---: | ---: |"
printf '%s\n' "${rows[@]}"
echo
echo "import: $(cat "$work/import.log")"
echo "export: $(cat "$work/export.log")"
