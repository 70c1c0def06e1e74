#!/usr/bin/env bash
# kube-emulator start-up time and memory, optionally against another build
# of it (BEFORE=/path/to/kube-emulator): binary size, time from exec to the
# "listening on" line (median of RUNS), resident memory once started, and
# after serving the OpenAPI documents kubectl reads (v3 apps/v1 and the v2
# protobuf), when the binary serves them.
#
#   benches/compare/emulator.sh [RUNS]
#   BEFORE=/tmp/kube-emulator-main benches/compare/emulator.sh 20
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-20}
cargo build -q -p kube-emulator --bin kube-emulator
after=target/debug/kube-emulator

measure() {
  local bin=$1 label=$2
  local times=() rss_start=() rss_openapi=()
  for _ in $(seq "$runs"); do
    local out; out=$(mktemp)
    local t0; t0=$(date +%s%N)
    "$bin" --listen 127.0.0.1:0 >"$out" 2>/dev/null &
    local pid=$!
    until grep -q "listening on" "$out"; do sleep 0.001; done
    local t1; t1=$(date +%s%N)
    times+=($(( (t1 - t0) / 1000 )))
    local url; url=$(sed -n 's/listening on //p' "$out")
    sleep 0.2
    rss_start+=("$(awk '/VmRSS/ {print $2}' /proc/$pid/status)")
    curl -s -o /dev/null "$url/openapi/v3/apis/apps/v1"
    curl -s -o /dev/null -H 'Accept: application/com.github.proto-openapi.spec.v2@v1.0+protobuf' "$url/openapi/v2"
    rss_openapi+=("$(awk '/VmRSS/ {print $2}' /proc/$pid/status)")
    kill "$pid"; wait "$pid" 2>/dev/null || true
    rm -f "$out"
  done
  median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
  printf '%-8s size %6.1f MB  start %6.1f ms  RSS started %6.1f MB  after OpenAPI %6.1f MB  (medians of %d)\n' \
    "$label" "$(echo "$(stat -c %s "$bin") / 1048576" | bc -l)" \
    "$(echo "$(median "${times[@]}") / 1000" | bc -l)" \
    "$(echo "$(median "${rss_start[@]}") / 1024" | bc -l)" \
    "$(echo "$(median "${rss_openapi[@]}") / 1024" | bc -l)" "$runs"
}

if [ -n "${BEFORE:-}" ]; then measure "$BEFORE" before; fi
measure "$after" after
