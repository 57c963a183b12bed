#!/usr/bin/env bash
# Builds and runs the service on http://127.0.0.1:8080 with the embedded store in
# ./data. Plain HTTP on loopback, so cookies are not marked Secure (--insecure-cookies);
# behind TLS, run `trustyconvert serve` without that flag. Extra arguments are passed
# to `trustyconvert serve` (see `--help`).
set -euo pipefail
cd "$(dirname "$0")/.."

cargo build --release --locked -p trustyconvert
exec ./target/release/trustyconvert serve --insecure-cookies "$@"
