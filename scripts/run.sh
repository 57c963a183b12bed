#!/usr/bin/env bash
# Builds (when missing or stale) and runs the service with its web UI on
# http://127.0.0.1:8080, with the embedded store in ./data. Plain HTTP on loopback, so
# cookies are not marked Secure (--insecure-cookies); behind TLS, run
# `trustyconvert serve` without that flag. Extra arguments are passed to
# `trustyconvert serve` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/build-web.sh
cargo build --release --locked -p trustyconvert
exec ./target/release/trustyconvert serve --insecure-cookies --web-dir target/web "$@"
