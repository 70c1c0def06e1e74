#!/usr/bin/env bash
# The soak of fluxd under faults (benches/src/soak): builds fluxd and the
# soak program in release (PROFILE=dev for the test profile) and runs the
# soak for SECONDS (600 by default) of load and faults, then its drain and
# checks. Further arguments go to the soak (--seed N, --fluxd-log PATH,
# --rss-baseline SECONDS). scripts/test runs a 60-second soak on the test
# profile's binaries.
#
# Usage: benches/soak.sh [SECONDS] [soak arguments...]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-600}"
shift || true
profile="${PROFILE:-release}"
# Built one at a time: fluxd without the soak's test-bed features.
cargo build --locked --profile "$profile" -p flux-daemon --bin fluxd
cargo build --locked --profile "$profile" -p flux-benches --bin soak
case "$profile" in
  dev) dir=target/debug ;;
  *) dir="target/$profile" ;;
esac
exec "$dir/soak" --fluxd "$dir/fluxd" --seconds "$seconds" "$@"
