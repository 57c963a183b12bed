#!/usr/bin/env bash
# Installs what building the web UI needs, only what is missing: the wasm32 target,
# wasm-bindgen-cli at exactly the version in Cargo.lock, and (best effort) wasm-opt
# from npm's binaryen and the standard library's source for a nightly toolchain the
# machine already has (scripts/build-web.sh then builds a smaller bundle). Idempotent.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi

# The CLI must match the wasm-bindgen crate exactly. `--locked` is left out on purpose:
# the registry mirror lacks one of the CLI's locked dependencies.
version=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' Cargo.lock)
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$version" ]; then
  echo "installing wasm-bindgen-cli $version (a few minutes, once)"
  cargo install wasm-bindgen-cli --version "$version" --force
fi

# wasm-opt shrinks the bundle further. Debian's binaryen is too old (its output crashes
# in Chromium); npm's binaryen 132 works. Without npm the UI is built without it.
binaryen=target/tools/binaryen
if [ ! -x "$binaryen/node_modules/.bin/wasm-opt" ] && command -v npm >/dev/null 2>&1; then
  mkdir -p "$binaryen"
  npm install --silent --no-audit --no-fund --prefix "$binaryen" binaryen@132.0.0 \
    || echo "note: could not install wasm-opt; the UI will be built without it"
fi

# With a nightly toolchain on the machine, the bundle is built with the standard
# library rebuilt for it (scripts/build-web.sh), which needs the library's source.
# Best effort: without it the stable build is used. No toolchain is downloaded here.
if rustup run nightly rustc --version >/dev/null 2>&1 \
  && ! [[ "$(rustup component list --toolchain nightly --installed)" == *rust-src* ]]; then
  rustup component add rust-src --toolchain nightly \
    || echo "note: could not add rust-src to nightly; the UI will be built on stable"
fi
