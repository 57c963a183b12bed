#!/usr/bin/env bash
# Runs the browser end-to-end tests (e2e/*.test.mjs): headless Debian Chromium, driven
# by playwright-core, against the real `trustyconvert` binary serving the built web UI.
# Installs what it needs first (scripts/setup-browser.sh) and builds the bundle
# (scripts/build-web.sh) and the binary (the test profile the other tests already built). Exits non-zero if any test fails. Screenshots of every step go
# to e2e/artifacts/ (not committed).
#
# Extra arguments go to `node --test`, e.g. `./scripts/test-browser.sh --test-name-pattern tabs`.
set -euo pipefail
cd "$(dirname "$0")/.."

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

./scripts/setup-browser.sh
./scripts/build-web.sh
./scripts/build-example.sh
cargo build --locked -p trustyconvert -p axum-app

if [ ! -f target/web/index.html ]; then
  echo "test-browser: target/web/index.html is missing after ./scripts/build-web.sh" >&2
  exit 1
fi

echo "== browser end-to-end tests"
# Each test has its own 60 s budget (e2e/harness.mjs); `timeout` bounds the whole run.
# The files are listed rather than given as the directory e2e/: Node 20 expands a
# directory, later Nodes take arguments as globs.
TRUSTY_BIN=target/debug/trustyconvert TRUSTY_WEB_DIR=target/web \
  timeout --kill-after=15s 600s \
  node --test --test-concurrency=1 "$@" e2e/*.test.mjs
