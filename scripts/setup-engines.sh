#!/usr/bin/env bash
# Installs the optional conversion engine the tests exercise and the tool they read
# PDFs back with: LibreOffice (Writer, headless, for office documents), bubblewrap
# (every LibreOffice run is fenced in with it; without it LibreOffice is not used),
# poppler's pdftotext, and the DejaVu fonts LibreOffice lays text out with.
# The service runs without LibreOffice (it then offers the built-in conversions only);
# to add it on a server, run this script or install the same packages.
# Idempotent: it installs only what is missing.
set -euo pipefail

if command -v soffice >/dev/null 2>&1 && command -v bwrap >/dev/null 2>&1 \
  && command -v pdftotext >/dev/null 2>&1; then
  exit 0
fi
# With recommendations: LibreOffice's recommended packages are part of what was tested.
"$(dirname "$0")/apt-install.sh" --with-recommends \
  libreoffice-writer-nogui bubblewrap poppler-utils fonts-dejavu-core
