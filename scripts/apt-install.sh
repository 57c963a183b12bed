#!/usr/bin/env bash
# Installs Debian packages with apt-get, as root or through sudo, without questions:
#   scripts/apt-install.sh [--with-recommends] PACKAGE...
# Recommended packages are skipped unless --with-recommends is given. The setup
# scripts call this only for what is missing.
set -euo pipefail

recommends="--no-install-recommends"
if [ "${1:-}" = "--with-recommends" ]; then
  recommends=""
  shift
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
echo "== installing $* (apt-get)"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update
# shellcheck disable=SC2086 # $recommends is one flag or nothing
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y $recommends "$@"
