#!/usr/bin/env bash
# Builds the web UI bundle into target/web: the wasm module (size-optimized profile
# `wasm-release`, then wasm-opt where available) and its JS glue (wasm-bindgen), the
# static files, and a gzip copy of each for the server to send compressed. Cheap when
# nothing changed (cargo is incremental and the bundle is only redone when the wasm or
# a static file is newer). Prints the bundle's size.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-web.sh
cargo build --profile wasm-release --locked --target wasm32-unknown-unknown -p trustyconvert-web

wasm=target/wasm32-unknown-unknown/wasm-release/trustyconvert_web.wasm
out=target/web
stamp="$out/.built-from"
if [ -f "$stamp" ] && [ "$stamp" -nt "$wasm" ] && [ -z "$(find crates/web/static -newer "$stamp" -print -quit)" ]; then
  echo "web UI up to date in $out"
  exit 0
fi

staging=target/web.staging
rm -rf "$staging"
mkdir -p "$staging"
wasm-bindgen --target web --no-typescript --out-dir "$staging" "$wasm"
wasm_opt=target/tools/binaryen/node_modules/.bin/wasm-opt
if [ -x "$wasm_opt" ]; then
  "$wasm_opt" -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types \
    "$staging/trustyconvert_web_bg.wasm" -o "$staging/trustyconvert_web_bg.wasm"
fi
cp crates/web/static/* "$staging/"
for file in "$staging"/*; do
  gzip -9 -n -k "$file"
done
rm -rf "$out"
mv "$staging" "$out"
touch "$stamp"

js=$(stat -c %s "$out/trustyconvert_web.js.gz")
bin=$(stat -c %s "$out/trustyconvert_web_bg.wasm.gz")
echo "web UI built in $out: js + wasm gzipped = $(( (js + bin) / 1024 )) KiB ($js + $bin bytes)"
