#!/usr/bin/env bash
# One fluxd with many sources against one fluxd per source (issue 14: "one
# daemon with 20 sources of 500 resources each vs 20 daemons of one source
# each: memory and CPU for a no-op interval"), run by `sources-bench`: the
# release `fluxd` binary in its own processes against flux-daemon's test
# bed (one sshd with strict host keys serving every repository, one
# Kubernetes API emulator), a fresh bed for each mode.
#
#   benches/compare/sources.sh [SOURCES [RESOURCES]]   (default: 20 500)
#
# Each repository holds RESOURCES resources (flux-benches' manifest shapes)
# all in its own namespace src-NN, so no two sources define one object.
# - one: one `fluxd --config` with a sources file listing every repository
#   (each source allowed only its namespace);
# - many: one `fluxd --git-url` per repository (its own state directory,
#   API port, --k8s-secret-name and --k8s-allow-namespace).
# Every fluxd of a mode starts at once; when every source is ready (its
# write check done) and its sync tag is at its branch head (GET
# /api/flux/v11/sources), INTERVAL seconds of no-op
# periodic syncs (every SYNC_INTERVAL seconds; git polling every POLL
# seconds, an hour by default, so none) are measured from /proc, summed
# over processes: RSS (VmRSS) at the end, peak (VmHWM, each process's own
# since its start), and CPU time (utime + stime) used in the interval;
# "(children)" is the CPU time of fluxd's child processes (git, ssh) that
# ended in the interval (cutime + cstime), not included in "CPU s". Also
# shown: the time from start to every source synced and ready, the
# periodic syncs finished in the interval and their mean duration (fluxd's
# flux_daemon_sync_duration_seconds), and the API requests other than
# watches and the writes the emulator received in the interval.
# Every fluxd runs with MALLOC_ARENA_MAX=1, as the Docker image sets it
# (ARENAS; empty: not set).
#
# Environment: INTERVAL (60), SYNC_INTERVAL (10), POLL (3600), ARENAS (1),
# SOURCES_BENCH_JSON (a file the JSON line is appended to).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SOURCES=${1:-20}
RESOURCES=${2:-500}
INTERVAL=${INTERVAL:-60}
SYNC_INTERVAL=${SYNC_INTERVAL:-10}
POLL=${POLL:-3600}

cargo build -q --release --locked --manifest-path "$ROOT/Cargo.toml" \
  -p flux-daemon --bin fluxd -p flux-benches --bin sources-bench
fluxd="$ROOT/target/release/fluxd"
bench="$ROOT/target/release/sources-bench"

echo "date $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(FLUXD_MALLOC_ARENA_MAX=${ARENAS-1} "$bench" "$fluxd" "$SOURCES" "$RESOURCES" \
  "$INTERVAL" "$SYNC_INTERVAL" "$POLL")
echo "$out" >>"${SOURCES_BENCH_JSON:-/dev/null}"
echo "load average after $(cut -d' ' -f1-3 /proc/loadavg)"
jq -r '"\(.sources) sources x \(.resources_per_source) resources, no-op interval \(.interval_s) s, sync every \(.sync_interval_s) s, MALLOC_ARENA_MAX=\(.malloc_arena_max // "unset")"' <<<"$out"
printf '%-5s %9s %8s %8s %9s %10s | %8s %7s %9s %8s %8s\n' \
  mode processes "RSS MB" "peak MB" "CPU s" "(children)" "ready s" syncs "sync ms" requests writes
for m in one many; do
  jq -r --arg m "$m" '.[$m] | [$m, .processes, .rss_mb, .peak_mb, .cpu_s, .children_cpu_s, .ready_s,
      .syncs_in_interval, .sync_ms_mean, .emulator.requests_not_watch, .emulator.writes] | @tsv' <<<"$out" |
    awk -F'\t' '{printf "%-5s %9s %8s %8s %9s %10s | %8s %7s %9s %8s %8s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11}'
done
jq -r '.ratio_one_to_many | "one/many: RSS \(.rss), peak \(.peak), CPU \(.cpu)"' <<<"$out"
