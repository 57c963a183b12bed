#!/usr/bin/env bash
# The side-by-side benchmark: builds this service and the comparison servers (bench/)
# in release mode, installs wrk and redis-server when missing, then runs every server
# on loopback through the same operations and prints one markdown table, then the
# memory store's scale figures. The micro-benchmarks are separate:
#   cargo bench -p trustyconvert-server; cargo bench -p trustyconvert-client
#   BENCH_SECS=4 BENCH_ROUNDS=5 BENCH_CONNECTIONS=32 BENCH_CHAINS=4 ./scripts/bench.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-redis.sh
if ! command -v wrk >/dev/null 2>&1; then
  ./scripts/apt-install.sh wrk
fi

cargo build --release --locked -p trustyconvert -p trustyconvert-bench
./target/release/bench
echo
./target/release/scale
