#!/usr/bin/env bash
# rametcd against etcd 3.4 and against a do-nothing gRPC server, side by side, in one run.
#
# Builds rametcd, rametcd-bench and ceiling_server (as scripts/build.sh does, into $BUILD_DIR),
# installs etcd, etcdctl and etcd's load generator `benchmark` with
# ../shared/tools/etcd-peers.sh, and gnuplot with apt-get if missing. Then, server after server, each started fresh for each group of
# workloads:
#   etcd-disk         etcd 3.4, data dir on disk (under $WORK_DIR)
#   etcd-tmpfs        etcd 3.4, data dir on /dev/shm: etcd's best case, fsync costs nothing
#   rametcd-buffered  rametcd, --wal-default buffered (the default)
#   rametcd-fsync     rametcd, --wal-default fsync (group commit)
#   rametcd-none      rametcd, --wal-default none (memory only)
#   ceiling           bench/ceiling_server: gRPC answering KV requests without doing anything
# it runs etcd's `benchmark put --conns 16 --clients 256 --key-size 48 --val-size 1024
# --key-space-size 100000` and rametcd-bench's workloads (put at 1, 16, 64 and 256 clients,
# txn-put, lease-flood, list, count, watch, k8s-mix; the ceiling only answers the KV writes), and
# finally fills etcd-disk and rametcd-buffered with 1,000,000 keys of 1 KiB for memory and
# restart time. Server CPU per request comes from /proc/PID/stat around each run.
#
# Writes $OUT_DIR/<date>.md (machine, versions, commands, tables, targets), <date>.tsv (every
# RESULT line), <date>-put-throughput.png and <date>-put-p99.png.
#
# Usage: bench/compare.sh     env: QUICK=1 (a smoke run: small totals, 100,000 keys for memory),
#                                  BUILD_DIR (default build), OUT_DIR (default
#                                  bench/results), WORK_DIR (default a new dir under $TMPDIR,
#                                  removed afterwards), DATE (default today, UTC)
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=bench/servers.sh
source bench/servers.sh

QUICK=${QUICK:-0}
BUILD_DIR=${BUILD_DIR:-build}
OUT_DIR=${OUT_DIR:-bench/results}
DATE=${DATE:-$(date -u +%Y-%m-%d)}
export ETCDCTL_API=3
# What is measured: taken now, before anything in the tree may change during the run.
version="$(git rev-parse --short HEAD)$(git diff --quiet HEAD || echo '+uncommitted changes')"

# Run lengths: seconds per measured run, and sizes.
if [[ $QUICK == 1 ]]; then
  SECS=2 PUT_TOTAL=20000 COUNT_KEYS=100000 MEMORY_KEYS=100000 MIX_PODS=2000
else
  SECS=10 PUT_TOTAL=100000 COUNT_KEYS=1000000 MEMORY_KEYS=1000000 MIX_PODS=10000
fi

scripts/install-deps.sh
command -v gnuplot >/dev/null || {
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends gnuplot-nox >/dev/null
}
../shared/tools/etcd-peers.sh >/dev/null
BENCHMARK=$(find_benchmark)
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD_DIR" --target rametcd rametcd-bench ceiling_server >/dev/null
RAMETCD=$BUILD_DIR/src/server/rametcd
CEILING=$BUILD_DIR/bench/ceiling_server
LOAD=$BUILD_DIR/bench/rametcd-bench

work=${WORK_DIR:-$(mktemp -d "${TMPDIR:-/tmp}/rametcd-compare.XXXXXX")}
shm=$(mktemp -d /dev/shm/rametcd-compare.XXXXXX)
mkdir -p "$work" "$OUT_DIR"
cleanup() {
  cleanup_servers
  rm -rf "$shm"
  [[ -n ${WORK_DIR:-} ]] || rm -rf "$work"
}
trap cleanup EXIT
# Every RESULT line goes straight to the results dir, so that a run that fails keeps what it had.
results=$OUT_DIR/$DATE.tsv
: >"$results"
log=$work/compare.log

# start SERVER: a fresh instance with an empty data dir; sets $port and $server_pid.
runs=0
start() {
  runs=$((runs + 1))
  port=$(free_port)
  local dir=$work/$1-$runs
  case $1 in
    etcd-disk) start_etcd "$dir" "$port" "$(free_port)" --quota-backend-bytes=8589934592 ;;
    etcd-tmpfs) start_etcd "$shm/$1-$runs" "$port" "$(free_port)" --quota-backend-bytes=8589934592 ;;
    rametcd-*) start_rametcd "$dir" "$port" --wal-default "${1#rametcd-}" --quota-backend-bytes=8589934592 ;;
    ceiling) start_ceiling "$dir" "$port" ;;
  esac
  wait_up "$port"
}

# load SERVER WORKLOAD FLAGS...: one rametcd-bench run against the running server.
load() {
  local server=$1 workload=$2
  shift 2
  echo "== $server: rametcd-bench $workload $*" >>"$log"
  "$LOAD" "$workload" --endpoint="127.0.0.1:$port" --server-pid="$server_pid" --label="$server" \
    "$@" >>"$log" 2>&1 || die "rametcd-bench $workload failed on $server: $(tail -n 3 "$log")"
  grep '^RESULT' "$log" | tail -n 1 >>"$results"
}

# etcd_tool SERVER: etcd's own `benchmark put`, turned into a RESULT line (server CPU from /proc).
etcd_tool() {
  local server=$1 out=$work/etcd-tool-$runs.txt cpu0 cpu1
  echo "== $server: benchmark put (etcd's tool)" >>"$log"
  cpu0=$(cpu_seconds "$server_pid")
  "$BENCHMARK" --endpoints="127.0.0.1:$port" --conns=16 --clients=256 put --key-size=48 \
    --val-size=1024 --key-space-size=100000 --total="$PUT_TOTAL" >"$out" 2>&1 ||
    die "benchmark put failed on $server: $(tail -n 3 "$out")"
  cpu1=$(cpu_seconds "$server_pid")
  cat "$out" >>"$log"
  awk -v server="$server" -v total="$PUT_TOTAL" -v cpu0="$cpu0" -v cpu1="$cpu1" '
    /Requests\/sec:/ { rps = $2 }
    /Slowest:/ { max = $2 * 1000 }
    /^ *50% in/ { p50 = $3 * 1000 } /^ *90% in/ { p90 = $3 * 1000 }
    /^ *99% in/ { p99 = $3 * 1000 } /^ *99.9% in/ { p999 = $3 * 1000 }
    END {
      printf "RESULT\tetcd-benchmark-put\t%s\t256\t16\t%.1f\t%.3f\t%.3f\t%.3f\t%.3f\t%.3f\t0\t%.1f\t-\n",
        server, rps, p50, p90, p99, p999, max, (cpu1 - cpu0) * 1e6 / total
    }' "$out" >>"$results"
}

SERVERS=(etcd-disk etcd-tmpfs rametcd-buffered rametcd-fsync rametcd-none ceiling)
for server in "${SERVERS[@]}"; do
  echo "compare.sh: $server" >&2
  # Writes: etcd's tool, then rametcd-bench at growing client counts.
  start "$server"
  etcd_tool "$server"
  for clients in 1 16 64 256; do
    conns=$((clients < 16 ? clients : 16))
    load "$server" put --clients="$clients" --conns="$conns" --total=0 --duration="$SECS"
  done
  load "$server" txn-put --clients=256 --total=0 --duration="$SECS"
  load "$server" lease-flood --clients=256 --keys-per-client=10 --total=0 --duration="$SECS"
  if [[ $server != ceiling ]]; then
    load "$server" watch --streams=10 --watches=100 --rate=1000 --total=0 --duration="$SECS"
    load "$server" watch --streams=10 --watches=100 --clients=64 --total=0 --duration="$SECS"
  fi
  stop "$server_pid"
  [[ $server != ceiling ]] || continue
  start "$server"
  load "$server" list --objects=10000 --object-size=2048 --page-limit=500 --clients=16 --total=0 \
    --duration="$SECS"
  stop "$server_pid"
  start "$server"
  load "$server" count --objects="$COUNT_KEYS" --clients=1 --conns=1 --total=0 --duration="$SECS"
  stop "$server_pid"
  start "$server"
  load "$server" k8s-mix --objects="$MIX_PODS" --clients=256 --total=0 --duration="$SECS"
  stop "$server_pid"
done

# Memory with MEMORY_KEYS keys of 48 + 1024 bytes after a compaction, and the time a restart
# takes until the server answers a count of them.
memory_rows=()
for server in etcd-disk rametcd-buffered; do
  echo "compare.sh: $server memory and restart" >&2
  start "$server"
  dir=$work/$server-$runs
  load "$server" fill --objects="$MEMORY_KEYS" --key-size=48 --val-size=1024 --clients=64
  rev=$(etcdctl --endpoints="127.0.0.1:$port" get x -w json | grep -o '"revision":[0-9]*' | cut -d: -f2)
  etcdctl --endpoints="127.0.0.1:$port" --command-timeout=600s compact "$rev" >/dev/null
  if [[ $server == etcd-disk ]]; then
    etcdctl --endpoints="127.0.0.1:$port" --command-timeout=600s defrag >/dev/null
  fi
  wait_idle "$server_pid"
  rss=$(rss_bytes "$server_pid") peak=$(peak_rss_bytes "$server_pid")
  stop "$server_pid"
  t=$(now)
  case $server in
    etcd-disk) start_etcd "$dir" "$port" "$(free_port)" --quota-backend-bytes=8589934592 ;;
    rametcd-buffered) start_rametcd "$dir" "$port" --quota-backend-bytes=8589934592 ;;
  esac
  wait_up "$port"
  restart=$(since "$t")
  stop "$server_pid"
  memory_rows+=("$server $rss $restart $peak")
done

# ---- The report ---------------------------------------------------------------------------------
out=$OUT_DIR/$DATE
raw=$((MEMORY_KEYS * (48 + 1024)))

# Plots: put requests/s and p99 latency against clients, one line per server.
for server in "${SERVERS[@]}"; do
  awk -F'\t' -v s="$server" '$2 == "put" && $3 == s { print $4, $6, $9 }' "$results" >"$work/put-$server.dat"
done
plot() {  # column title file
  local lines=() server
  for server in "${SERVERS[@]}"; do
    lines+=("'$work/put-$server.dat' using 1:$1 with linespoints title '$server'")
  done
  gnuplot <<EOF
set terminal pngcairo size 900,540 noenhanced
set output '$3'
set title '$2 (rametcd-bench put, 48-byte keys, 1 KiB values, $(nproc) cores)'
set xlabel 'clients'
set logscale x 2
set key outside right
set grid
plot $(IFS=,; echo "${lines[*]}")
EOF
}
plot 2 "put requests/s" "$out-put-throughput.png"
plot 3 "put p99 latency (ms)" "$out-put-p99.png"

{
  echo "# rametcd vs etcd 3.4 vs the gRPC ceiling — $DATE"
  echo
  echo "Machine: $(nproc) cores ($(awk -F': ' '/model name/ { print $2; exit }' /proc/cpuinfo)), $(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo), Linux $(uname -r); data dirs on $(df -T "$work" | awk 'NR == 2 { print $2 }') ($work) and tmpfs."
  echo "Versions: rametcd $version, $(etcd --version | head -n 1), gRPC $(dpkg-query -W -f='${Version}' libgrpc++-dev 2>/dev/null)."
  echo "Command: \`$( [[ $QUICK == 1 ]] && echo 'QUICK=1 ')bench/compare.sh\`; every server started fresh for each group of runs, one server at a time; $SECS s per rametcd-bench run. The machine is shared and noisy: compare ratios within this run, not absolute figures across runs."
  echo
  echo "Per run: requests/s, latency p50 / p99 (ms), server CPU per request (us, from /proc)."
  echo
  awk -F'\t' -v servers="${SERVERS[*]}" '
    BEGIN { n = split(servers, S, " ") }
    {
      key = $2 " " $4 " clients"
      if ($2 == "watch") key = $0 ~ /\tput_rate=0\t/ ? "watch, " $4 " clients putting" : "watch, puts at a fixed rate"
      if (!(key in seen)) { seen[key] = 1; order[++k] = key }
      extra = ""
      for (i = 15; i <= NF; i++) if ($i ~ /^(events_per_s|event_p99_ms|lists_per_s|count|conflicts|watch_events_per_s)=/) extra = extra " " $i
      cell[key, $3] = sprintf("%.0f/s, %.2f / %.2f ms, %s us%s", $6, $7, $9, $13, extra)
    }
    END {
      printf "| Run |"; for (i = 1; i <= n; i++) printf " %s |", S[i]; print ""
      printf "| --- |"; for (i = 1; i <= n; i++) printf " --- |"; print ""
      for (j = 1; j <= k; j++) {
        printf "| %s |", order[j]
        for (i = 1; i <= n; i++) printf " %s |", ((order[j], S[i]) in cell) ? cell[order[j], S[i]] : "-"
        print ""
      }
    }' "$results"
  echo
  echo "The two watch runs: 1,000 watchers (10 streams x 100) with puts at 1,000/s, then with 64 clients putting as fast as they can; events_per_s is delivered events, event_p99_ms the put-to-event latency."
  echo
  echo "Memory and restart, $MEMORY_KEYS keys of 48 + 1024 bytes ($(mib "$raw") raw), compacted (etcd also defragmented); resident memory once the server is idle again (compaction, defragmentation, checkpoints done), and the peak since it started:"
  echo
  echo "| Server | Resident memory | / raw bytes | Peak resident | / raw bytes | Restart until serving |"
  echo "| --- | ---: | ---: | ---: | ---: | ---: |"
  for row in "${memory_rows[@]}"; do
    read -r server rss restart peak <<<"$row"
    echo "| $server | $(mib "$rss") | $(awk -v a="$rss" -v b="$raw" 'BEGIN { printf "%.2f", a / b }') | $(mib "$peak") | $(awk -v a="$peak" -v b="$raw" 'BEGIN { printf "%.2f", a / b }') | $restart s |"
  done
  echo
  echo "![put throughput]($DATE-put-throughput.png) ![put p99]($DATE-put-p99.png)"
  echo
  echo "## Targets (issue 7)"
  echo
  awk -F'\t' -v raw="$raw" -v mem="${memory_rows[*]}" '
    $2 == "etcd-benchmark-put" { rps[$3] = $6; cpu[$3] = $13 }
    $2 == "put" && $4 == 16 { p99[$3] = $9 }
    $2 == "list" { list[$3] = $6 }
    $2 == "count" { count_cpu[$3] = $13 }
    $2 == "watch" && $0 ~ /\tput_rate=0\t/ { for (i = 15; i <= NF; i++) if ($i ~ /^events_per_s=/) { split($i, a, "="); events[$3] = a[2] } }
    $2 == "watch" && $0 !~ /\tput_rate=0\t/ { for (i = 15; i <= NF; i++) if ($i ~ /^event_p99_ms=/) { split($i, a, "="); wp99[$3] = a[2] } }
    function row(what, value, ok) { printf "| %s | %s | %s |\n", what, value, ok ? "met" : "**missed**" }
    function ratio(a, b) { return b > 0 ? a / b : 0 }
    END {
      print "| Target | This run | |"
      print "| --- | --- | --- |"
      r = ratio(rps["rametcd-buffered"], rps["ceiling"]); row("put throughput >= 90% of the ceiling (etcd benchmark put)", sprintf("%.0f%%", 100 * r), r >= 0.9)
      r = ratio(cpu["rametcd-buffered"], cpu["ceiling"]); row("server CPU per put <= 1.25x the ceiling", sprintf("%.2fx (%s vs %s us)", r, cpu["rametcd-buffered"], cpu["ceiling"]), r > 0 && r <= 1.25)
      r = ratio(rps["rametcd-buffered"], rps["etcd-disk"]); row("put throughput >= 2.5x etcd (disk)", sprintf("%.2fx", r), r >= 2.5)
      r = ratio(rps["rametcd-fsync"], rps["etcd-disk"]); row("fsync mode: put throughput >= 3x etcd (same disk)", sprintf("%.2fx", r), r >= 3)
      r = ratio(p99["rametcd-buffered"], p99["etcd-disk"]); row("p99 put latency at 16 clients <= 1/4 of etcd", sprintf("%.2f (%.2f vs %.2f ms)", r, p99["rametcd-buffered"], p99["etcd-disk"]), r > 0 && r <= 0.25)
      r = ratio(list["rametcd-buffered"], list["etcd-disk"]); row("paginated list (10,000 x 2 KiB, limit 500) >= 5x etcd", sprintf("%.2fx", r), r >= 5)
      row("count_only over the count run keys < 1 ms of server time", sprintf("%s us CPU per count", count_cpu["rametcd-buffered"]), count_cpu["rametcd-buffered"] + 0 < 1000)
      row("watch put-to-event p99 < 1 ms (1,000 puts/s, 1,000 watchers)", sprintf("%s ms", wp99["rametcd-buffered"]), wp99["rametcd-buffered"] + 0 < 1)
      r = ratio(events["rametcd-buffered"], events["etcd-disk"]); row("delivered watch events/s >= 3x etcd", sprintf("%.2fx", r), r >= 3)
      n = split(mem, m, " ")
      for (i = 1; i + 3 <= n; i += 4) { rss[m[i]] = m[i + 1]; restart[m[i]] = m[i + 2] }
      r = ratio(rss["rametcd-buffered"], raw); row("resident memory <= 1.3x raw key+value bytes (etcd beside)", sprintf("%.2fx (etcd %.2fx)", r, ratio(rss["etcd-disk"], raw)), r > 0 && r <= 1.3)
      row("restart with those keys <= 3 s", sprintf("%s s (etcd %s s)", restart["rametcd-buffered"], restart["etcd-disk"]), restart["rametcd-buffered"] + 0 <= 3)
    }' "$results"
} >"$out.md"
echo "compare.sh: wrote $out.md, $out.tsv and the plots; the full log was $log" >&2
cat "$out.md"
