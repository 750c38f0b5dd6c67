# Sourced by bench/*.sh: starts and stops etcd, rametcd and the ceiling server on free loopback
# ports, waits for them, and reads a process's CPU time and resident memory.
#
# The sourcing script sets RAMETCD (the rametcd binary) and, for start_ceiling, CEILING; it
# traps cleanup_servers on EXIT, which stops every server still running. Each start_* leaves the
# new server's PID in $server_pid; its output goes to <data-dir>.log (ceiling: $1.log).

pids=()
die() { echo "$(basename "$0"): $*" >&2; exit 1; }
cleanup_servers() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
}

# Prints etcd's load generator `benchmark`: $BENCHMARK, or on PATH, or built by etcd-peers.sh.
find_benchmark() {
  local bin=${BENCHMARK:-$(command -v benchmark || true)}
  if [[ -z $bin && -x ../shared/tools/etcd-peers.sh ]]; then
    bin=$(../shared/tools/etcd-peers.sh --benchmark | sed -n 's/^benchmark: //p')
  fi
  [[ -x $bin ]] || die "etcd's benchmark tool is needed: ../shared/tools/etcd-peers.sh --benchmark"
  echo "$bin"
}
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
bytes() { du -sb "$1" | cut -f1; }
mib() { awk -v b="$1" 'BEGIN { printf "%.1f MiB", b / 1048576 }'; }
# CPU seconds (user + system) the process used so far; fields after the command name's ')'.
cpu_seconds() {  # pid
  awk -v hz="$(getconf CLK_TCK)" '{ sub(/.*\) /, ""); split($0, f, " "); printf "%.3f", (f[12] + f[13]) / hz }' \
    "/proc/$1/stat"
}
rss_bytes() {  # pid
  awk '/^VmRSS:/ { print $2 * 1024 }' "/proc/$1/status"
}
peak_rss_bytes() {  # pid
  awk '/^VmHWM:/ { print $2 * 1024 }' "/proc/$1/status"
}
# Waits (up to 5 minutes) until the process used under 2% of a core over a whole second: done
# with background work such as compaction, defragmentation or checkpoints.
wait_idle() {  # pid
  local deadline=$((SECONDS + 300)) before after
  while ((SECONDS < deadline)); do
    before=$(cpu_seconds "$1")
    sleep 1
    after=$(cpu_seconds "$1")
    awk -v a="$before" -v b="$after" 'BEGIN { exit !(b - a < 0.02) }' && return 0
  done
  echo "$(basename "$0"): process $1 still busy after 5 minutes" >&2
}

start_etcd() {  # data-dir client-port peer-port [etcd flags...]
  local dir=$1 peer="http://127.0.0.1:$3" client="http://127.0.0.1:$2"
  shift 3
  etcd --name m --data-dir "$dir" --listen-client-urls "$client" --advertise-client-urls "$client" \
    --listen-peer-urls "$peer" --initial-advertise-peer-urls "$peer" \
    --initial-cluster "m=$peer" --log-level warn "$@" >"$dir.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}
start_rametcd() {  # data-dir client-port [rametcd flags...]
  local dir=$1 client="http://127.0.0.1:$2"
  shift 2
  "$RAMETCD" --data-dir "$dir" --listen-client-urls "$client" --advertise-client-urls "$client" \
    "$@" >"$dir.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}
start_ceiling() {  # log-path client-port
  "$CEILING" --listen "127.0.0.1:$2" >"$1.log" 2>&1 &
  server_pid=$!
  pids+=("$server_pid")
}
stop() {  # pid
  kill -TERM "$1"
  wait "$1" || true
}
# Waits until the server's port accepts connections (polled directly: a client would back off).
wait_port() {  # port
  local deadline=$((SECONDS + 600))
  until (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; do
    ((SECONDS < deadline)) || die "nothing listens on port $1"
    sleep 0.01
  done
}
# Waits until the server on `port` answers.
wait_up() {  # port
  local deadline=$((SECONDS + 120))
  wait_port "$1"
  until etcdctl --endpoints="127.0.0.1:$1" --command-timeout=2s endpoint health >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "the server on port $1 did not start"
    sleep 0.05
  done
}
