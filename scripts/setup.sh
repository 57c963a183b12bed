#!/usr/bin/env bash
# Installs what building and testing need beyond the Rust toolchain. Idempotent: safe
# to run on every invocation; it only installs what is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

for component in rustfmt clippy; do
  if ! rustup component list --installed 2>/dev/null | grep -q "^${component}"; then
    rustup component add "$component"
  fi
done

# The client (and later the web UI) must build for the browser.
if ! rustup target list --installed | grep -qx wasm32-unknown-unknown; then
  rustup target add wasm32-unknown-unknown
fi
