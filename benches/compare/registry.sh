#!/usr/bin/env bash
# Scanning a registry: flux-registry's scanner vs skopeo doing the same work,
# on a local docker-registry, in one run.
#
#   benches/compare/registry.sh [REPOS] [TAGS]     (default 100 × 50)
#
# Work: list the tags of every repository and read every tag's manifest and
# config (digest, creation time, labels), as automation with `glob:*` needs.
# - ours: first scan from an empty cache, re-scan, and re-scan after a
#   restart (cache file reopened); concurrency = burst (10), rate limit
#   raised to 10,000/s so the registry, not the limiter, sets the pace.
# - skopeo: `skopeo list-tags` per repository and `skopeo inspect` per tag,
#   10 at a time. skopeo keeps no cache, so its re-scan is the same work.
# Requests are counted from the registry's access log. Also prints
# fluxd-side memory for 20,000 cached tags.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
repos=${1:-100}
tags=${2:-50}
jobs=10
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

cargo build -q --release -p flux-benches --bin registry-bench --manifest-path "$ROOT/Cargo.toml"
bench="$ROOT/target/release/registry-bench"

cat > "$work/config.yml" <<YAML
version: 0.1
log:
  level: info
  accesslog:
    disabled: false
storage:
  filesystem:
    rootdirectory: $work/storage
http:
  addr: 127.0.0.1:0
  secret: bench
YAML
/usr/bin/docker-registry serve "$work/config.yml" >"$work/access.log" 2>"$work/registry.log" &
pid=$!
addr=""
for _ in $(seq 100); do
  addr=$(grep -o 'listening on [0-9.:]*' "$work/registry.log" | head -1 | cut -d' ' -f3 || true)
  [ -n "$addr" ] && break
  sleep 0.1
done
[ -n "$addr" ] || { echo "docker-registry did not start" >&2; exit 1; }
requests() { wc -l <"$work/access.log"; }

echo "populating $addr with $repos repositories × $tags tags…" >&2
"$bench" populate "$addr" "$repos" "$tags"

r0=$(requests)
read -r first_ms first_req rescan_ms rescan_req restart_ms restart_req < <("$bench" scan "$addr" "$repos" "$work/cache")
r1=$(requests)

start=$(date +%s.%N)
for r in $(seq 0 $((repos - 1))); do
  echo "bench/r$r"
done | xargs -P "$jobs" -I{} sh -c "skopeo list-tags --tls-verify=false docker://$addr/{} > $work/tags-\$(echo {} | tr / -).json"
for f in "$work"/tags-*.json; do
  repo=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["Repository"])' "$f")
  python3 -c 'import json,sys; [print(t) for t in json.load(open(sys.argv[1]))["Tags"]]' "$f" | sed "s|^|$repo:|"
done >"$work/refs"
xargs -P "$jobs" -I{} skopeo inspect --tls-verify=false "docker://{}" <"$work/refs" >"$work/inspect.out"
end=$(date +%s.%N)
r2=$(requests)
skopeo_ms=$(python3 -c "print(f'{($end - $start) * 1000:.1f}')")
inspected=$(grep -c '"Digest"' "$work/inspect.out")
[ "$inspected" -eq $((repos * tags)) ] || { echo "skopeo inspected $inspected images" >&2; exit 1; }

read -r mem_kb cache_bytes load_ms < <("$bench" memory 20000)

python3 - "$repos" "$tags" "$first_ms" "$first_req" "$rescan_ms" "$rescan_req" "$restart_ms" "$restart_req" \
  "$skopeo_ms" "$((r1 - r0))" "$((r2 - r1))" "$mem_kb" "$cache_bytes" "$load_ms" <<'PY'
import sys
(repos, tags, first_ms, first_req, rescan_ms, rescan_req, restart_ms, restart_req,
 skopeo_ms, ours_log, skopeo_log, mem_kb, cache_bytes, load_ms) = sys.argv[1:]
f = float
print(f"registry scan, {repos} repositories x {tags} tags (local docker-registry)")
print(f"  ours  first scan      {f(first_ms):9.1f} ms  {first_req:>6} requests")
print(f"  ours  re-scan         {f(rescan_ms):9.1f} ms  {rescan_req:>6} requests")
print(f"  ours  after restart   {f(restart_ms):9.1f} ms  {restart_req:>6} requests")
print(f"  ours  (access log, all three scans)  {ours_log} requests")
print(f"  skopeo list-tags + inspect per tag {f(skopeo_ms):9.1f} ms  {skopeo_log:>6} requests (every scan)")
print(f"  ratio skopeo / ours first scan: {f(skopeo_ms) / f(first_ms):8.1f}x")
print(f"  ratio skopeo / ours re-scan:    {f(skopeo_ms) / f(rescan_ms):8.1f}x   (target >= 10x)")
print(f"  ratio skopeo / ours restart:    {f(skopeo_ms) / f(restart_ms):8.1f}x")
print(f"memory for 20,000 cached tags: {int(mem_kb) / 1024:.1f} MiB resident, "
      f"cache file {int(cache_bytes) / 1048576:.1f} MiB, loads in {f(load_ms):.0f} ms")
PY
