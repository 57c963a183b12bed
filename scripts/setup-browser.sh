#!/usr/bin/env bash
# Installs what the browser end-to-end tests (scripts/test-browser.sh) need: Debian's
# Chromium (and its chromedriver) and the e2e/ Node project (playwright-core only).
# Idempotent: it installs only what is missing. Nothing ever downloads a browser build
# of its own; the tests drive /usr/bin/chromium.
set -euo pipefail
cd "$(dirname "$0")/.."

export PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1

if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then
  # Debian's chromium ships /usr/bin/chromium, chromium-driver ships /usr/bin/chromedriver;
  # fonts-liberation (a recommendation skipped below) gives screenshots legible text.
  ./scripts/apt-install.sh chromium chromium-driver fonts-liberation
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  ./scripts/apt-install.sh nodejs npm
fi

# playwright-core needs Node 20 or later (Debian bookworm's own nodejs is 18).
node_major=$(node -p 'process.versions.node.split(".")[0]')
if [ "$node_major" -lt 20 ]; then
  echo "setup-browser: Node $(node --version) is too old for playwright-core; Node 20 or later is needed" >&2
  exit 1
fi

if [ ! -d e2e/node_modules/playwright-core ] || [ ! -f e2e/node_modules/axe-core/axe.min.js ]; then
  echo "== installing e2e/ node modules (npm ci)"
  npm ci --prefix e2e --no-audit --no-fund
fi
