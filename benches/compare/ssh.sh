#!/usr/bin/env bash
# What sharing one ssh connection saves a fetch: `git fetch` of a small
# repository over Debian's sshd on loopback (strict host key checking, a
# deploy key, batch mode: the options flux-git writes), each connecting on
# its own (what flux-git does) vs over one ControlMaster connection
# (ControlMaster auto, ControlPersist 60; tried in flux-git and taken out:
# see the README). This is the transport step of every poll and of every
# /v11/notify; fluxd.sh measures fluxd as a whole.
#
#   benches/compare/ssh.sh [RUNS]   (default 21; the first of each round is
#                                    dropped: it opens the shared connection)
set -euo pipefail
RUNS=${1:-21}
dir=$(mktemp -d /tmp/fluxssh.XXXXXX)
cleanup() {
  [ -f "$dir/sshd.pid" ] && kill "$(cat "$dir/sshd.pid")" 2>/dev/null || true
  pkill -f "ssh: $dir/mux" 2>/dev/null || true
  rm -rf "$dir"
}
trap cleanup EXIT
cd "$dir"
ssh-keygen -q -t ed25519 -N '' -f host -C host
ssh-keygen -q -t ed25519 -N '' -f client -C client
cp client.pub authorized_keys
chmod 600 authorized_keys
mkdir -p /run/sshd
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >sshd_config <<CONF
Port $port
ListenAddress 127.0.0.1
HostKey $dir/host
PidFile $dir/sshd.pid
AuthorizedKeysFile $dir/authorized_keys
PubkeyAuthentication yes
PasswordAuthentication no
UsePAM no
StrictModes no
MaxStartups 100:30:200
CONF
"$(command -v sshd || echo /usr/sbin/sshd)" -f "$dir/sshd_config" -E "$dir/sshd.log"
echo "[127.0.0.1]:$port $(cut -d' ' -f1,2 host.pub)" >known_hosts
git init -q --bare remote.git
git clone -q remote.git work 2>/dev/null
for i in $(seq 50); do echo "$i" >"work/f$i"; done
git -C work add .
git -C work -c user.name=bench -c user.email=bench@example.com commit -qm files
git -C work push -q origin HEAD:master
git init -q --bare mirror.git
common="Host *
  StrictHostKeyChecking yes
  UserKnownHostsFile $dir/known_hosts
  GlobalKnownHostsFile /dev/null
  IdentitiesOnly yes
  IdentityFile $dir/client
  BatchMode yes"
printf '%s\n  ControlMaster no\n  ControlPath none\n' "$common" >ssh_config.each
mkdir -m 700 mux
printf '%s\n  ControlMaster auto\n  ControlPath %s/mux/%%C\n  ControlPersist 60\n' "$common" "$dir" >ssh_config.shared
url="ssh://$(id -un)@127.0.0.1:$port$dir/remote.git"
round() {
  for _ in $(seq "$RUNS"); do
    s=$(date +%s%N)
    GIT_SSH_COMMAND="ssh -F $dir/ssh_config.$1" git -C mirror.git fetch -q "$url" '+refs/heads/*:refs/heads/*'
    echo $((($(date +%s%N) - s) / 1000000))
  done | tail -n +2 | sort -n | awk '{a[NR]=$1} END {m = NR % 2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; printf "%7.1f ms  (best %d, worst %d)", m, a[1], a[NR]}'
}
echo "date $(date -u +%Y-%m-%dT%H:%MZ), load average $(cut -d' ' -f1-3 /proc/loadavg), $((RUNS - 1)) fetches a round, medians"
for r in 1 2; do
  each=$(round each)
  shared=$(round shared)
  echo "round $r: own connection each $each | shared connection $shared"
done
