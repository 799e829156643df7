#!/usr/bin/env bash
# Runs the benchmark scenarios S1, S2, S4, S6, S7, S8 (crates/perf/README.md) against
# one broker with warren-perf and writes one JSON summary per scenario.
#
#   bench/perf-scenarios.sh NAME URI BROKER_PID OUTDIR [SCENARIO...]
#
# e.g. bench/perf-scenarios.sh rabbitmq amqp://guest:guest@127.0.0.1:5672/%2F \
#        "$(pgrep -f beam.smp | head -1)" /tmp/bench
# Then: python3 bench/perf-table.py /tmp/bench
#
# A watchdog stops the run (not the broker) if the broker's RSS passes
# $MAX_RSS_MB (default 8192): a broker without publisher flow control can queue
# gigabytes in seconds of unlimited publishing.
set -euo pipefail
name=$1 uri=$2 pid=$3 out=$4
shift 4
scenarios=${*:-s1 s2 s4 s6 s7 s8}
perf=${WARREN_PERF:-target/release/warren-perf}
max_rss_kb=$(( ${MAX_RSS_MB:-8192} * 1024 ))
duration=${DURATION:-10}
mkdir -p "$out"

args() {
  case $1 in
    s1) echo "--size 16 --auto-ack --duration $duration" ;;
    s2) echo "--size 1024 --prefetch 100 --duration $duration" ;;
    s4) echo "--fanout 10 --size 256 --auto-ack --duration $duration" ;;
    s6) echo "--rate 1000 --size 16 --auto-ack --duration $duration" ;;
    s7) echo "--publish-then-drain --count 1000000 --size 64 --auto-ack" ;;
    s8) echo "--connection-churn 1000" ;;
    *) echo "unknown scenario $1" >&2; exit 2 ;;
  esac
}

for s in $scenarios; do
  file="$out/$name-$s.json"
  # shellcheck disable=SC2046
  "$perf" --uri "$uri" --broker-pid "$pid" --json --quiet $(args "$s") > "$file" &
  run=$!
  while kill -0 "$run" 2>/dev/null; do
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status" 2>/dev/null || echo 0)
    if [ "${rss:-0}" -gt "$max_rss_kb" ]; then
      echo "$name $s: broker RSS ${rss} kB over the limit; stopping the run" >&2
      kill "$run"
      echo "{\"scenario\":\"aborted\",\"error\":\"broker RSS over ${MAX_RSS_MB:-8192} MB\"}" > "$file"
    fi
    sleep 0.2
  done
  wait "$run" || echo "$name $s: warren-perf exited non-zero (see $file)" >&2
  echo "$name $s: $(head -c 300 "$file")..." >&2
  sleep 2
done
