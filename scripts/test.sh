#!/usr/bin/env bash
# Runs every check and test of the workspace on a fresh machine. It installs what the
# tests need first (scripts/setup.sh), so nothing has to be installed by hand.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh

echo "== format"
cargo fmt --all -- --check
echo "== lint (native)"
cargo clippy --all-targets --locked -- -D warnings
echo "== lint (wasm32 client and web UI)"
cargo clippy --locked --target wasm32-unknown-unknown -p trustyconvert-client -p trustyconvert-web -- -D warnings
echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
echo "== tests"
cargo test --locked
echo "== browser tests (headless Chromium against the real server and web UI)"
./scripts/test-browser.sh
