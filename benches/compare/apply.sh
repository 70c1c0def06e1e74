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
# emulator received. flux-kube's re-sync is measured twice: as a new
# process (cold client: kubeconfig, discovery) and inside the process that
# did the first sync (warm, as in a running fluxd). Every flux-kube figure
# includes reading the files, reading the cluster and planning.
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
{
  for i in $(seq 0 19); do printf -- '---\napiVersion: v1\nkind: Namespace\nmetadata: {name: team-%d}\n' "$i"; done
  cat <<'EOF'
---
apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata: {name: helmreleases.helm.fluxcd.io}
spec:
  group: helm.fluxcd.io
  names: {kind: HelmRelease, listKind: HelmReleaseList, plural: helmreleases}
  scope: Namespaced
  versions:
  - name: v1
    served: true
    storage: true
    schema:
      openAPIV3Schema: {type: object, x-kubernetes-preserve-unknown-fields: true}
EOF
} >"$work/setup.yaml"

kc() { # kc NAME kubectl-args...
  KUBECONFIG="$work/$1.kubeconfig" HOME="$work/home" KUBECACHEDIR="$work/cache-$1" kubectl "${@:2}"
}

start() { # a fresh emulator named $1, with the namespaces and the CRD
  "$emu" --kubeconfig "$work/$1.kubeconfig" >"$work/$1.out" 2>"$work/$1.err" &
  pids+=($!)
  for _ in $(seq 200); do grep -q '^listening on' "$work/$1.out" 2>/dev/null && break; sleep 0.05; done
  kc "$1" apply --server-side -f "$work/setup.yaml" >/dev/null
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
k_first='' k_again='' f_first='' f_cold='' f_warm=''
k_first_w=0 k_again_w=0 f_first_w=0 f_again_w=0 errors=0
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

  # flux-kube: the first sync (a new process), then a new process syncing
  # three times (a cold re-sync, then two warm ones).
  start "flux-$round"
  w0=$(writes "flux-$round")
  first=$("$bench" kube-sync "$work/repo" "$work/flux-$round.kubeconfig" 1)
  w1=$(writes "flux-$round")
  mapfile -t again < <("$bench" kube-sync "$work/repo" "$work/flux-$round.kubeconfig" 3)
  w2=$(writes "flux-$round")
  f_first=$(min "$f_first" "$(field "$first" ms)"); f_first_w=$(max "$f_first_w" $((w1 - w0)))
  f_cold=$(min "$f_cold" "$(field "${again[0]}" ms)")
  f_warm=$(min "$f_warm" "$(field "${again[1]}" ms)")
  f_warm=$(min "$f_warm" "$(field "${again[2]}" ms)")
  f_again_w=$(max "$f_again_w" $((w2 - w1)))
  errors=$(max "$errors" "$(field "$first" errors)")
  kill "${pids[@]}" 2>/dev/null || true
  pids=()
done

echo "resources: $resources in $files files; best of $rounds rounds; flux-kube apply errors: $errors"
printf '%-34s %12s %8s %12s %8s\n' "" "kubectl" "writes" "flux-kube" "writes"
printf '%-34s %10s ms %8s %10s ms %8s\n' "first sync" "$k_first" "$k_first_w" "$f_first" "$f_first_w"
printf '%-34s %10s ms %8s %10s ms %8s\n' "no-op re-sync (new process)" "$k_again" "$k_again_w" "$f_cold" "$f_again_w (all 3)"
printf '%-34s %10s    %8s %10s ms\n' "no-op re-sync (warm, in-process)" "" "" "$f_warm"
awk -v k="$k_first" -v f="$f_first" 'BEGIN { printf "first sync: flux-kube is %.1fx faster than kubectl\n", k / f }'
awk -v a="$f_cold" -v w="$f_warm" -v f="$f_first" \
  'BEGIN { printf "flux-kube no-op re-sync / flux-kube first sync: %.0f%% (new process), %.0f%% (warm)\n", 100 * a / f, 100 * w / f }'
awk -v a="$f_cold" -v w="$f_warm" -v k="$k_first" \
  'BEGIN { printf "flux-kube no-op re-sync / kubectl first sync: %.1f%% (new process), %.1f%% (warm)\n", 100 * a / k, 100 * w / k }'
