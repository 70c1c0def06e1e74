#!/usr/bin/env bash
# A no-op sync through flux-kube's WatchedCluster (live state from watch
# caches) vs KubeCluster (live state listed on every sync), and the memory
# of the caches, at several sizes, against the Kubernetes API emulator.
#
#   benches/compare/watch.sh [RESOURCES...] (default: 1000 10000 50000)
#
# For each size: a fresh emulator (a separate process, so the bench process
# holds only the caches) with 20 namespaces and the HelmRelease CRD, a
# generated repository of that many resources synced once by flux-kube,
# then one `flux-bench watch-sync` process that starts a WatchedCluster,
# reports the RSS it added once its caches were complete (cached objects:
# the marked objects plus the namespaces and workloads, which are watched
# whole), then times RUNS no-op syncs (load files, read, plan; no GC)
# through it and then through a KubeCluster, with the list requests the
# emulator received per sync.
#
# Environment: RUNS (default 10; 5 at 50,000 resources).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(1000 10000 50000)
work=$(mktemp -d)
pid=''
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --release --manifest-path "$ROOT/Cargo.toml" \
  -p kube-emulator --bin kube-emulator -p flux-benches --bin flux-bench
emu="$ROOT/target/release/kube-emulator"
bench="$ROOT/target/release/flux-bench"
mkdir -p "$work/home"
"$bench" setup-yaml >"$work/setup.yaml"

printf '%-10s %8s %8s %9s %13s %21s %21s %12s %5s\n' \
  resources cached "RSS MB" "B/object" "caches ready" "no-op sync (reads)" "no-op sync (reads)" "lists/sync" runs
printf '%-10s %8s %8s %9s %13s %21s %21s %12s %5s\n' "" "objects" "added" "" "" "watched" "listed" "w / l" ""
for n in "${sizes[@]}"; do
  files=$((n * 4 / 5))
  runs=${RUNS:-$([ "$n" -ge 50000 ] && echo 5 || echo 10)}
  rm -rf "$work/repo"
  "$bench" gen-repo "$work/repo" "$files" >/dev/null
  "$emu" --kubeconfig "$work/kubeconfig" >"$work/emu.out" 2>"$work/emu.err" &
  pid=$!
  for _ in $(seq 200); do grep -q '^listening on' "$work/emu.out" 2>/dev/null && break; sleep 0.05; done
  addr=$(sed -n 's|^listening on http://||p' "$work/emu.out" | head -1)
  KUBECONFIG="$work/kubeconfig" HOME="$work/home" kubectl apply --server-side -f "$work/setup.yaml" >/dev/null
  "$bench" kube-sync "$work/repo" "$work/kubeconfig" 1 >"$work/first.json"
  out=$("$bench" watch-sync "$work/repo" "$work/kubeconfig" "$addr" "$runs")
  echo "$out" >>"$work/results.jsonl"
  python3 - "$out" "$n" <<'PY'
import json, sys
r = json.loads(sys.argv[1]); n = sys.argv[2]
w, l = r["watched"], r["listed"]
print("{:<10} {:>8} {:>8.1f} {:>9} {:>10.0f} ms {:>9.1f} ms ({:>6.1f}) {:>9.1f} ms ({:>6.1f}) {:>5.1f} / {:<5.1f} {:>5.0f}".format(
    n, r["cached_objects"], r["rss_added_mb"], r["rss_added_bytes_per_object"], r["caches_ready_ms"],
    w["median_ms"], w["median_read_ms"], l["median_ms"], l["median_read_ms"], w["lists_per_sync"], l["lists_per_sync"], w["runs"]))
if w["sent_to_apply"] or l["sent_to_apply"]:
    print("  warning: a no-op sync sent objects to apply:", w["sent_to_apply"], l["sent_to_apply"])
PY
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  pid=''
done
echo "(medians of RUNS alternating no-op syncs: whole sync, and in brackets the export + GC listing;"
echo " lists/sync: watched / listed; RSS: the bench process's growth while the caches filled)"
