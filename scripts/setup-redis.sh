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
"$(dirname "$0")/apt-install.sh" redis-server openssl
# The package starts a system instance; the tests never use it, so stop it again.
if command -v systemctl >/dev/null 2>&1 && systemctl is-active --quiet redis-server 2>/dev/null; then
  if [ "$(id -u)" -eq 0 ]; then
    systemctl stop redis-server || true
  else
    sudo systemctl stop redis-server || true
  fi
fi
