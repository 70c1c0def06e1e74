#!/usr/bin/env bash
# Git: flux-git vs the git program doing the same work, on a generated
# repository served on loopback, in one run.
#
#   benches/compare/git.sh [FILES] [RUNS] [TRANSPORT]
#
# FILES defaults to 10,000, RUNS to 15; TRANSPORT is `git` (git daemon, the
# default), `ssh` (Debian's sshd with generated keys, strict host key
# checking on both sides) or `file`.
#
# Measured (medians of RUNS, ours and git interleaved run by run; see
# benches/src/bin/git-bench.rs for the exact commands):
# - first clone: flux-git's first fetch vs `git clone --mirror`;
# - fetch + read after a one-file commit pushed by another clone: flux-git's
#   refresh + snapshot_at(head) of every manifest file vs `git fetch` into a
#   mirror + `git ls-tree -r` + `git archive` of the head (flux-git inflates
#   only the blobs its previous read did not have);
# - read all, cold: a fresh mirror's first snapshot vs ls-tree + archive;
# - commit + push one edit: Repo::commit_and_push vs `git pull` + edit +
#   `git commit -a` + `git push` in a kept work tree, and vs Flux v1's way
#   (fetch into the mirror, fresh working clone, commit, push; 3 runs).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
files=${1:-10000}
runs=${2:-15}
transport=${3:-git}
work=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

export GIT_CONFIG_GLOBAL=/dev/null GIT_CONFIG_NOSYSTEM=1
export GIT_AUTHOR_NAME=Writer GIT_AUTHOR_EMAIL=writer@example.com
export GIT_COMMITTER_NAME=Writer GIT_COMMITTER_EMAIL=writer@example.com

cargo build -q --release -p flux-benches --bin git-bench --bin flux-bench --manifest-path "$ROOT/Cargo.toml"

echo "generating a repository of $files files…" >&2
mkdir -p "$work/seed" "$work/scratch"
"$ROOT/target/release/flux-bench" gen-repo "$work/seed" "$files"
git -C "$work/seed" init -q --initial-branch=master
git -C "$work/seed" add -A
git -C "$work/seed" commit -qm seed
git init -q --bare --initial-branch=master "$work/srv/config.git"
git -C "$work/seed" push -q "$work/srv/config.git" master

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
wait_port() {
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && return 0
    sleep 0.05
  done
  echo "nothing listening on $port" >&2; exit 1
}
case "$transport" in
  git)
    git daemon --export-all --enable=receive-pack --reuseaddr --base-path="$work/srv" \
      --listen=127.0.0.1 --port="$port" "$work/srv" >/dev/null 2>&1 &
    pid=$!
    wait_port
    url="git://127.0.0.1:$port/config.git"
    ;;
  ssh)
    ssh-keygen -q -t ed25519 -N '' -f "$work/host_key"
    ssh-keygen -q -t ed25519 -N '' -f "$work/client_key"
    cp "$work/client_key.pub" "$work/authorized_keys"
    [ -d /run/sshd ] || { [ "$(id -u)" = 0 ] && mkdir -p /run/sshd; }
    cat >"$work/sshd_config" <<CFG
Port $port
ListenAddress 127.0.0.1
HostKey $work/host_key
PidFile $work/sshd.pid
AuthorizedKeysFile $work/authorized_keys
AllowUsers $(id -un)
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
AcceptEnv GIT_PROTOCOL
CFG
    /usr/sbin/sshd -D -f "$work/sshd_config" -E "$work/sshd.log" &
    pid=$!
    wait_port
    echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 "$work/host_key.pub")" >"$work/known_hosts"
    export GIT_BENCH_IDENTITY="$work/client_key" GIT_BENCH_KNOWN_HOSTS="$work/known_hosts"
    export GIT_SSH_COMMAND="ssh -F /dev/null -i $work/client_key -o IdentitiesOnly=yes -o BatchMode=yes -o StrictHostKeyChecking=yes -o UserKnownHostsFile=$work/known_hosts"
    url="ssh://$(id -un)@127.0.0.1:$port$work/srv/config.git"
    ;;
  file) url="file://$work/srv/config.git" ;;
  *) echo "TRANSPORT must be git, ssh or file" >&2; exit 2 ;;
esac

echo "measuring ($runs runs each)…" >&2
"$ROOT/target/release/git-bench" compare "$url" "$work/scratch" "$runs" >"$work/results"

python3 - "$files" "$runs" "$work/results" "$transport" <<'PY'
import sys
files, runs, path, transport = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
rows = {l.split()[0]: l.split()[1:] for l in open(path)}
def line(label, name, anchor):
    ours, theirs = (float(x) for x in rows[name][:2])
    r = theirs / ours
    verdict = f"flux-git {r:.2f}x faster" if r >= 1 else f"flux-git {1/r:.2f}x slower"
    print(f"{label:<22} flux-git {ours:8.1f} ms | {anchor:<36} {theirs:8.1f} ms | {verdict}")
served = {"git": "git daemon (git://)", "ssh": "sshd (ssh://)", "file": "file://"}[transport]
print(f"{files} manifest files served by {served} on loopback; medians of {runs} runs")
line("first clone", "clone", "git clone --mirror")
line("fetch + read all", "fetch-read", "git fetch + ls-tree -r + archive")
line("  of which fetch", "fetch", "git fetch")
line("read all, cold", "read-cold", "git ls-tree -r + archive")
line("commit + push one edit", "commit-push", "git pull + commit -a + push")
line("", "commit-push-v1", "Flux v1: fetch + clone + commit + push")
ours_files, git_files = (int(x) for x in rows["fetch-read"][2:4])
print(f"files read: flux-git {ours_files}, git ls-tree {git_files}")
assert ours_files == git_files == files, "file counts differ"
PY
