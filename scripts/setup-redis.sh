#!/usr/bin/env bash
# Installs what the Redis tests need: Debian's redis-server and redis-cli (the tests
# start and stop their own servers and cluster on free loopback ports; nothing runs as
# a system service) and openssl (the TLS test makes its own certificates).
# Idempotent: it installs only what is missing.
set -euo pipefail

if command -v redis-server >/dev/null 2>&1 && command -v redis-cli >/dev/null 2>&1 \
  && command -v openssl >/dev/null 2>&1; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "== installing redis-server (apt-get)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends redis-server openssl
# The package starts a system instance; the tests never use it, so stop it again.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  $SUDO systemctl stop redis-server || true
fi
