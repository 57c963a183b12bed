#!/usr/bin/env bash
# Builds the Leptos example page (examples/leptos-app) into target/leptos-app: its
# index.html and boot.js, and the wasm module with its JS glue (wasm-bindgen) in pkg/.
# `cargo run -p axum-app -- 127.0.0.1:3000 target/leptos-app` then serves page and API
# on one origin. The browser tests use it.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-web.sh
cargo build --locked --target wasm32-unknown-unknown -p leptos-app

out=target/leptos-app
rm -rf "$out"
mkdir -p "$out/pkg"
wasm-bindgen --target web --no-typescript --out-dir "$out/pkg" \
  target/wasm32-unknown-unknown/debug/leptos_app.wasm
cp examples/leptos-app/index.html examples/leptos-app/boot.js "$out/"
echo "leptos-app built in $out"
