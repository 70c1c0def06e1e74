#!/usr/bin/env bash
# Syncing 1,000 resources into the Kubernetes API emulator: a whole fluxd
# sync (flux-core's planner + flux-kube) vs `kubectl apply --server-side -R
# -f` on the same directory, each against a fresh emulator of the same
# build, in one run.
#
#   benches/compare/apply.sh [FILES] [ROUNDS]
#       (default 800 files = 1,000 resources; 3 rounds, best time of each)
#
# For both tools: the first sync (into a cluster holding only the
# namespaces and the HelmRelease CRD) and a no-op re-sync (nothing changed),
# with wall time and the write requests (POST/PUT/PATCH/DELETE) the
# emulator received. flux-kube's re-sync is measured as a new process
# (cold client: kubeconfig, discovery), which then syncs four more times
# (warm, as in a running fluxd). Every flux-kube figure includes reading
# the files, reading the cluster and planning; the warm re-syncs are also
# broken down into those parts (medians of all warm runs).
#
# Environment:
#   LATENCY_MS=N   the emulator delays every request by N ms (its fault
#                  injection), for both tools, after the cluster is set up:
#                  an in-memory server makes writes nearly free, a real API
#                  server does not. Printed in the results' first line.
#   BASELINE=BIN   also measure another build of flux-bench (e.g. from an
#                  earlier commit), round by round with the current one, so
#                  before/after figures come from the same run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
files=${1:-800}
rounds=${2:-3}
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

cargo build -q --release --manifest-path "$ROOT/Cargo.toml" \
  -p kube-emulator --bin kube-emulator -p flux-benches --bin flux-bench
emu="$ROOT/target/release/kube-emulator"
bench="$ROOT/target/release/flux-bench"
mkdir -p "$work/home"

"$bench" gen-repo "$work/repo" "$files"
"$bench" setup-yaml >"$work/setup.yaml"

kc() { # kc NAME kubectl-args...
  KUBECONFIG="$work/$1.kubeconfig" HOME="$work/home" KUBECACHEDIR="$work/cache-$1" kubectl "${@:2}"
}

latency=${LATENCY_MS:-0}
start() { # a fresh emulator named $1, with the namespaces and the CRD
  # No workload controller: its status writes would be counted as the sync's.
  "$emu" --no-rollouts --kubeconfig "$work/$1.kubeconfig" >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
  for _ in $(seq 200); do grep -q '^listening on' "$work/$1.out" 2>/dev/null && break; sleep 0.05; done
  kc "$1" apply --server-side -f "$work/setup.yaml" >/dev/null
  if [ "$latency" != 0 ]; then
    kc "$1" create --raw /emulator/faults -f - >/dev/null <<<"{\"action\": {\"type\": \"latency\", \"millis\": $latency}}"
  fi
}

writes() { # write requests emulator $1 has received so far
  kc "$1" get --raw /emulator/stats |
    python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["creates"]+d["updates"]+d["patches"]+d["deletes"])'
}

now() { date +%s%N; }
ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", (b - a) / 1e6 }'; }
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }

resources=$(find "$work/repo" -name '*.yaml' -exec grep -c '^kind:' {} + | awk -F: '{ s += $NF } END { print s }')

min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }
max() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b > a) ? b : a }'; }
k_first='' k_again='' k_first_w=0 k_again_w=0
warm_runs=4
declare -A first cold warm first_w again_w errors
flux() { # flux NAME BIN ROUND: the first sync, then a new process syncing three times
  local name=$1 bin=$2 e="flux-$1-$3"
  start "$e"
  local w0 w1 w2 one again
  w0=$(writes "$e")
  one=$("$bin" kube-sync "$work/repo" "$work/$e.kubeconfig" 1)
  w1=$(writes "$e")
  mapfile -t again < <("$bin" kube-sync "$work/repo" "$work/$e.kubeconfig" $((1 + warm_runs)))
  w2=$(writes "$e")
  first[$name]=$(min "${first[$name]:-}" "$(field "$one" ms)")
  first_w[$name]=$(max "${first_w[$name]:-0}" $((w1 - w0)))
  cold[$name]=$(min "${cold[$name]:-}" "$(field "${again[0]}" ms)")
  for line in "${again[@]:1}"; do
    warm[$name]=$(min "${warm[$name]:-}" "$(field "$line" ms)")
    echo "$line" >>"$work/warm-$name.jsonl"
  done
  again_w[$name]=$(max "${again_w[$name]:-0}" $((w2 - w1)))
  errors[$name]=$(max "${errors[$name]:-0}" "$(field "$one" errors)")
}

for round in $(seq "$rounds"); do
  # kubectl, twice on the same directory.
  start "kubectl-$round"
  w0=$(writes "kubectl-$round"); t0=$(now)
  kc "kubectl-$round" apply --server-side -R -f "$work/repo" >/dev/null
  t1=$(now); w1=$(writes "kubectl-$round")
  kc "kubectl-$round" apply --server-side -R -f "$work/repo" >/dev/null
  t2=$(now); w2=$(writes "kubectl-$round")
  k_first=$(min "$k_first" "$(ms "$t0" "$t1")"); k_first_w=$(max "$k_first_w" $((w1 - w0)))
  k_again=$(min "$k_again" "$(ms "$t1" "$t2")"); k_again_w=$(max "$k_again_w" $((w2 - w1)))

  flux now "$bench" "$round"
  if [ -n "${BASELINE:-}" ]; then flux before "$BASELINE" "$round"; fi
  kill "${pids[@]}" 2>/dev/null || true
  pids=()
done

if [ "$latency" != 0 ]; then
  lat="every request delayed ${latency} ms by the emulator (fault injection)"
else
  lat="no injected latency (in-memory emulator)"
fi
echo "resources: $resources in $files files; best of $rounds rounds; $lat; flux-kube apply errors: ${errors[now]}"
printf '%-34s %12s %8s %12s %8s\n' "" "kubectl" "writes" "flux-kube" "writes"
printf '%-34s %10s ms %8s %10s ms %8s\n' "first sync" "$k_first" "$k_first_w" "${first[now]}" "${first_w[now]}"
printf '%-34s %10s ms %8s %10s ms %8s\n' "no-op re-sync (new process)" "$k_again" "$k_again_w" "${cold[now]}" "${again_w[now]} (all $((1 + warm_runs)))"
printf '%-34s %10s    %8s %10s ms\n' "no-op re-sync (warm, in-process)" "" "" "${warm[now]}"
breakdown() { # breakdown NAME LABEL: medians of the warm runs' parts
  python3 - "$work/warm-$1.jsonl" "$2" <<'PY'
import json, statistics, sys
runs = [json.loads(l) for l in open(sys.argv[1])]
if "load_ms" not in runs[0]:
    sys.exit(0)
med = {k: statistics.median(r[k] for r in runs) for k in ("ms", "load_ms", "export_ms", "list_managed_ms", "apply_ms", "other_ms")}
print("{}warm re-sync, medians of {} runs: {ms:.1f} ms = load files {load_ms:.1f} + export {export_ms:.1f} + GC listing {list_managed_ms:.1f} "
      "+ apply {apply_ms:.1f} + planning and the rest {other_ms:.1f} ms ({} objects sent to apply, {} up to date)".format(
          sys.argv[2], len(runs), runs[-1]["sent"], runs[-1]["skipped"], **med))
PY
}
breakdown now "  "
awk -v k="$k_first" -v f="${first[now]}" 'BEGIN { printf "first sync: flux-kube is %.1fx faster than kubectl\n", k / f }'
ratios() { # ratios LABEL NAME
  awk -v l="$1" -v a="${cold[$2]}" -v w="${warm[$2]}" -v f="${first[$2]}" \
    'BEGIN { printf "%sno-op re-sync / first sync: %.0f%% (new process), %.0f%% (warm)\n", l, 100 * a / f, 100 * w / f }'
}
ratios "flux-kube " now
awk -v a="${cold[now]}" -v w="${warm[now]}" -v k="$k_first" \
  'BEGIN { printf "flux-kube no-op re-sync / kubectl first sync: %.1f%% (new process), %.1f%% (warm)\n", 100 * a / k, 100 * w / k }'
if [ -n "${BASELINE:-}" ]; then
  echo "baseline ($BASELINE), same rounds:"
  printf '  first sync %s ms (%s writes), no-op re-sync %s ms new process, %s ms warm (%s writes)\n' \
    "${first[before]}" "${first_w[before]}" "${cold[before]}" "${warm[before]}" "${again_w[before]}"
  ratios "  baseline " before
  breakdown before "  baseline "
fi
