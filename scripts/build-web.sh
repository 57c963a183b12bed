#!/usr/bin/env bash
# Builds the web UI bundle into target/web: the wasm module (size-optimized profile
# `wasm-release`, then wasm-opt where available) and its JS glue (wasm-bindgen), the
# static files, and a gzip copy of each for the server to send compressed. Cheap when
# nothing changed (cargo is incremental and the bundle is only redone when the wasm or
# a static file is newer). Prints the bundle's size.
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-web.sh
# The standard library rebuilt for the page, with panics that abort at once: no panic
# messages or locations (the page has no panic hook, so nobody saw them) and none of
# the formatting code behind them; 8 % smaller (docs/web-ui.md). Its own target folder,
# so the stable builds' caches stay put. Needs a nightly toolchain with its `rust-src`
# (scripts/setup-web.sh); anything short of that, or a failing nightly build, leaves
# the stable build.
build_nightly() {
  rustup run nightly rustc --version >/dev/null 2>&1 \
    && [[ "$(rustup component list --toolchain nightly --installed)" == *rust-src* ]] \
    && CARGO_TARGET_DIR=target/wasm-nightly \
      RUSTFLAGS="-Zunstable-options -Cpanic=immediate-abort -Zlocation-detail=none" \
      cargo +nightly build -Zbuild-std=std,panic_abort --profile wasm-release --locked \
      --target wasm32-unknown-unknown -p trustyconvert-web
}
if build_nightly; then
  how="nightly, standard library rebuilt"
  target_dir=target/wasm-nightly
else
  how="stable"
  target_dir=target
  cargo build --profile wasm-release --locked --target wasm32-unknown-unknown -p trustyconvert-web
fi

wasm=$target_dir/wasm32-unknown-unknown/wasm-release/trustyconvert_web.wasm
out=target/web
report_size() {
  local js bin
  js=$(stat -c %s "$out/trustyconvert_web.js.gz")
  bin=$(stat -c %s "$out/trustyconvert_web_bg.wasm.gz")
  echo "web UI in $out ($how): js + wasm gzipped = $(( (js + bin) / 1024 )) KiB ($js + $bin bytes)"
}
stamp="$out/.built-from"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wasm" ] && [ "$stamp" -nt "$wasm" ] && [ -z "$(find crates/web/static -newer "$stamp" -print -quit)" ]; then
  echo "web UI up to date"
  report_size
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
echo "$wasm" > "$stamp"

report_size
