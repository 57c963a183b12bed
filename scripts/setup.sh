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

# The client and the web UI build for the browser.
./scripts/setup-web.sh

# The Redis backend's tests start their own redis-server processes and cluster.
./scripts/setup-redis.sh

# Office documents convert through LibreOffice; the tests read PDFs with pdftotext.
./scripts/setup-engines.sh
