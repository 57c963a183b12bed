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
echo "== lint (wasm32 client, Leptos crates, web UI and example)"
cargo clippy --locked --target wasm32-unknown-unknown -p trustyconvert-client \
  -p trustyconvert-leptos -p trustyconvert-web -p leptos-app -- -D warnings
echo "== docs"
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet
RUSTDOCFLAGS="-D warnings" cargo doc --no-deps --locked --quiet --target wasm32-unknown-unknown \
  -p trustyconvert-leptos
echo "== tests"
cargo test --locked
echo "== the client's session conformance and race tests against the session library's example app"
TRUSTY_TEST_APP=library cargo test --locked -p trustyconvert-client \
  --test single_flight --test epochs --test recovery --test listeners_and_tabs \
  --test expiry_and_store --test time_limits
# The Leptos crates build for wasm32 only: their doctests are compiled (not run) there,
# and the example is built (linked) as a wasm module.
cargo test --locked --doc --target wasm32-unknown-unknown -p trustyconvert-leptos
cargo build --locked --target wasm32-unknown-unknown -p leptos-app
echo "== browser tests (headless Chromium against the real server and web UI)"
./scripts/test-browser.sh
