#!/usr/bin/env bash
# Loading a 10,000-manifest repository: flux-core vs Python ruamel.yaml (what
# Flux v1's YAML tooling used), on the same generated files, in one run.
#
#   benches/compare/manifests.sh [N]      (default N=10000)
#
# flux-core: walk, read, parse, index, default namespaces (best of 5 runs).
# ruamel.yaml: read every file and load_all it with the round-trip loader
# (parsing only: it does less work than flux-core). Prints both and the ratio.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/benches/compare/python-env.sh"
n=${1:-10000}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p flux-benches --bin flux-bench --manifest-path "$ROOT/Cargo.toml"
bench="$ROOT/target/release/flux-bench"
py=$(bench_python)

"$bench" gen-repo "$work/repo" "$n"
read -r ours count < <("$bench" load "$work/repo" 5)

theirs=$("$py" - "$work/repo" <<'PY'
import os, sys, time
from ruamel.yaml import YAML
root = sys.argv[1]
yaml = YAML(typ="rt")
start = time.perf_counter()
docs = 0
for dirpath, dirnames, filenames in os.walk(root):
    dirnames.sort()
    for name in sorted(filenames):
        if name.endswith((".yaml", ".yml")):
            with open(os.path.join(dirpath, name)) as f:
                for doc in yaml.load_all(f):
                    if doc is not None:
                        docs += 1
print(f"{(time.perf_counter() - start) * 1000:.1f} {docs}")
PY
)
read -r theirs docs <<<"$theirs"
echo "files: $n; resources (flux-core): $count; documents (ruamel.yaml): $docs"
echo "flux-core load_dir (best of 5):  ${ours} ms"
echo "ruamel.yaml round-trip load:     ${theirs} ms"
awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "ratio: flux-core is %.1fx faster\n", a / b }'
