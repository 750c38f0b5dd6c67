#!/usr/bin/env bash
# Makes tests/fuzz/corpus/*/etcd34.db, the seed written by real etcd 3.4: starts etcd in a temp
# dir (as tests/support/server_process.cc StartEtcd does), writes a few keys (one with a lease,
# a deletion, a compaction), defragments it so that the file stays small, and saves a snapshot
# with etcdctl (the file ends with etcdctl's sha256). Needs etcd and etcdctl 3.4 on PATH.
set -euo pipefail
cd "$(dirname "$0")/../.."
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
peer=$((port + 1))
etcd --name seed --data-dir "$dir/data" \
  --listen-client-urls "http://127.0.0.1:$port" --advertise-client-urls "http://127.0.0.1:$port" \
  --listen-peer-urls "http://127.0.0.1:$peer" --initial-advertise-peer-urls "http://127.0.0.1:$peer" \
  --initial-cluster "seed=http://127.0.0.1:$peer" --log-level warn >"$dir/etcd.log" 2>&1 &
etcd_pid=$!
trap 'kill "$etcd_pid" 2>/dev/null; wait "$etcd_pid" 2>/dev/null; rm -rf "$dir"' EXIT
ctl() { ETCDCTL_API=3 etcdctl --endpoints="http://127.0.0.1:$port" "$@" >/dev/null; }
for _ in $(seq 50); do ctl endpoint health 2>/dev/null && break; sleep 0.2; done
lease=$(ETCDCTL_API=3 etcdctl --endpoints="http://127.0.0.1:$port" lease grant 600 | awk '{print $2}')
for i in 1 2 3 4 5 6; do ctl put "/seed/k$i" "value $i"; done
ctl put /seed/leased "with a lease" --lease="$lease"
ctl put /seed/k1 "value 1, again"
ctl del /seed/k2
ctl compaction 4
ctl defrag
ctl snapshot save "$dir/etcd34.db" 2>/dev/null
for target in bbolt_reader_fuzz etcd_backend_fuzz; do
  install -m 644 "$dir/etcd34.db" "tests/fuzz/corpus/$target/etcd34.db"
done
ls -l tests/fuzz/corpus/*/etcd34.db
