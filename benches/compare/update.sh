#!/usr/bin/env bash
# One image update in a 1,000-document file: flux-core's span editor vs a
# ruamel.yaml round trip (load, set the value, dump), the way Flux v1's
# kubeyaml did it, on the same file in one run.
#
#   benches/compare/update.sh [N] [DOC]      (default N=1000 documents, DOC=500)
#
# Both sides are timed inside their own process (best of 5 for flux-core,
# best of 3 for ruamel.yaml), excluding start-up and file IO. Then each
# output is compared with the input: flux-core's must differ only in the
# tag; ruamel.yaml's differences are counted for reference.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
source "$ROOT/benches/compare/python-env.sh"
n=${1:-1000}
doc=${2:-500}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

cargo build -q --release -p flux-benches --bin flux-bench --manifest-path "$ROOT/Cargo.toml"
bench="$ROOT/target/release/flux-bench"
py=$(bench_python)

"$bench" gen-multi "$work/in.yaml" "$n"
# Document DOC is manifest(DOC*4): its app image is registry.example.com/team/app-K:1.M.3.
k=$((doc * 4)); m=$((k % 7))
old="registry.example.com/team/app-$k:1.$m.3"
new="registry.example.com/team/app-$k:1.$m.4"

ours=$("$bench" update "$work/in.yaml" "$doc" app "$new" "$work/ours.yaml" 5)

theirs=$("$py" - "$work/in.yaml" "$doc" "$new" "$work/theirs.yaml" <<'PY'
import io, sys, time
from ruamel.yaml import YAML
path, doc, new, out = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
text = open(path).read()
best = None
for _ in range(3):
    yaml = YAML(typ="rt")
    yaml.explicit_start = True
    start = time.perf_counter()
    docs = list(yaml.load_all(text))
    for c in docs[doc]["spec"]["template"]["spec"]["containers"]:
        if c["name"] == "app":
            c["image"] = new
    buf = io.StringIO()
    yaml.dump_all(docs, buf)
    elapsed = (time.perf_counter() - start) * 1000
    best = elapsed if best is None else min(best, elapsed)
open(out, "w").write(buf.getvalue())
print(f"{best:.1f}")
PY
)

# Fidelity: which lines differ from the input, and how.
fidelity=$("$py" - "$work/in.yaml" "$work/ours.yaml" "$work/theirs.yaml" "$old" "$new" <<'PY'
import sys
src, ours, theirs = (open(p).read() for p in sys.argv[1:4])
old, new = sys.argv[4:6]
want = src.replace(old, new, 1)
exact = ours == want and src.count(old) == 1
a, b = src.splitlines(), theirs.splitlines()
changed = sum(1 for x, y in zip(a, b) if x != y) + abs(len(a) - len(b))
print(("yes" if exact else "NO"), changed, len(a))
PY
)
read -r exact ruamel_changed lines <<<"$fidelity"
echo "file: $n documents, $lines lines, $(wc -c <"$work/in.yaml") bytes; editing document $doc"
echo "flux-core set_container_image (best of 5): ${ours} ms"
echo "ruamel.yaml load + set + dump (best of 3): ${theirs} ms"
awk -v a="$theirs" -v b="$ours" 'BEGIN { printf "ratio: flux-core is %.0fx faster\n", a / b }'
echo "flux-core output identical to the input but for the tag: $exact"
echo "ruamel.yaml output: $ruamel_changed of $lines lines differ from the input"
[ "$exact" = yes ]
