#!/usr/bin/env bash
# fluxd itself on loopback: the release `fluxd` binary in its own process,
# against flux-daemon's test bed (a bare repository behind sshd with strict
# host keys, the Kubernetes API emulator with its request counters) run by
# `fluxd-bench`, one fresh bed per size.
#
#   benches/compare/fluxd.sh [RESOURCES...]   (default: 10 1000 10000 50000)
#
# For each size, a generated repository (flux-benches' manifest shapes:
# Deployments, Services, ConfigMaps, HelmReleases, CronJobs in 20
# namespaces created beforehand with the HelmRelease CRD) plus one probe
# ConfigMap:
# - first sync: from starting fluxd to its first sync finished (start-up,
#   clone over ssh, watch caches, apply of everything), and that sync alone
#   (fluxd's flux_daemon_sync_duration_seconds);
# - no-op syncs: NOOP_SYNCS periodic syncs with nothing new (every
#   INTERVAL seconds), their median duration (from the same metric), and
#   every request the emulator received meanwhile other than the watches
#   fluxd holds open (and how many watches were re-opened);
# - notify -> applied: NOTIFY_RUNS times, a commit changing the probe is
#   pushed, then POST /api/flux/v11/notify, and the time until the changed
#   ConfigMap is in the emulator's store (polled in-process every 1 ms);
#   medians, with the phases from fluxd's JSON logs (fetch done, sync
#   finished, sync tag pushed) as offsets from the notify;
# - fluxd's RSS (VmRSS of its process after the first sync and after the
#   no-op syncs; VmHWM, the peak, at the end).
#
# Environment: NOTIFY_RUNS (20), NOOP_SYNCS (5), INTERVAL (5 seconds),
# TAGS (0: with TAGS, fluxd starts on a registry cache file holding that
# many tags, so its RSS includes them; scanning stays off), and
# MALLOC_ARENA_MAX (unset: glibc's default; the Docker image sets 1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10 1000 10000 50000)
NOTIFY_RUNS=${NOTIFY_RUNS:-20}
NOOP_SYNCS=${NOOP_SYNCS:-5}
INTERVAL=${INTERVAL:-5}
TAGS=${TAGS:-0}

cargo build -q --release --manifest-path "$ROOT/Cargo.toml" \
  -p flux-daemon --bin fluxd -p flux-benches --bin fluxd-bench
fluxd="$ROOT/target/release/fluxd"
bench="$ROOT/target/release/fluxd-bench"

echo "date $(date -u +%Y-%m-%dT%H:%MZ), commit $(git -C "$ROOT" rev-parse --short HEAD), load average $(cut -d' ' -f1-3 /proc/loadavg), cached tags $TAGS, MALLOC_ARENA_MAX ${MALLOC_ARENA_MAX:-unset}"
printf '%-9s | %10s %9s | %9s %14s | %9s %7s %7s %7s %7s | %7s %7s %7s\n' \
  "" "first sync" "" "no-op" "requests" "notify ->" "fetched" "synced" "applied" "tag" "RSS MB" "" ""
printf '%-9s | %10s %9s | %9s %14s | %9s %7s %7s %7s %7s | %7s %7s %7s\n' \
  resources "from start" "sync" "sync" "(watch reopen)" "applied" "" "" "(max)" "pushed" "first" "no-op" "peak"
for n in "${sizes[@]}"; do
  out=$("$bench" "$fluxd" "$n" "$NOOP_SYNCS" "$INTERVAL" "$NOTIFY_RUNS" "$TAGS" 2>/dev/null)
  echo "$out" >>"${FLUXD_BENCH_JSON:-/dev/null}"
  jq -r '[
      .resources,
      (.first_sync.wall_from_start_ms * 10 | round / 10 | tostring + " ms"),
      (.first_sync.sync_ms * 10 | round / 10 | tostring + " ms"),
      (.noop_sync.median_ms * 10 | round / 10 | tostring + " ms"),
      ((.noop_sync.emulator_per_window.requests_not_watch | tostring) + " (" + (.noop_sync.emulator_per_window.watches_opened | tostring) + ")"),
      (.notify_applied.median_ms * 10 | round / 10 | tostring + " ms"),
      (.notify_applied.phases_median_ms.fetched | floor | tostring),
      (.notify_applied.phases_median_ms.sync_finished | floor | tostring),
      (.notify_applied.max_ms | floor | tostring),
      (.notify_applied.phases_median_ms.tag_moved | floor | tostring),
      (.rss_mb.after_first_sync | floor | tostring),
      (.rss_mb.after_noop_syncs | floor | tostring),
      (.rss_mb.peak | floor | tostring)
    ] | @tsv' <<<"$out" |
    awk -F'\t' '{printf "%-9s | %10s %9s | %9s %14s | %9s %7s %7s %7s %7s | %7s %7s %7s\n", $1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11,$12,$13}'
done
