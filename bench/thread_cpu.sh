#!/usr/bin/env bash
# CPU seconds each thread of a process used during a window, busiest first, from
# /proc/PID/task/TID/stat (user + system): which thread a load spends the server's CPU on.
#   bench/thread_cpu.sh PID [SECONDS]   (default 5; run it while the load runs)
set -euo pipefail
pid=${1:?usage: thread_cpu.sh PID [SECONDS]}
seconds=${2:-5}
hz=$(getconf CLK_TCK)
snapshot() {
  for stat in /proc/"$pid"/task/*/stat; do
    awk '{ line = $0; name = line; sub(/^[0-9]+ \(/, "", name); sub(/\) .*/, "", name)
           sub(/.*\) /, "", line); split(line, f, " "); print $1, f[12] + f[13], name }' "$stat" 2>/dev/null || true
  done | sort -k1,1
}
before=$(snapshot)
sleep "$seconds"
after=$(snapshot)
join <(echo "$before") <(echo "$after") |
  awk -v hz="$hz" -v s="$seconds" '{ d = ($4 - $2) / hz; if (d > 0) printf "%-8s %-16s %7.2f s  %5.1f%% of a core\n", $1, $5, d, 100 * d / s }' |
  sort -k3 -nr
