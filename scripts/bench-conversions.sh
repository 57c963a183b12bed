#!/usr/bin/env bash
# The conversion benchmark: builds this service and the driver in release mode,
# installs the engines (scripts/setup-engines.sh) and, where it can, unoserver (in a
# virtual environment under target/, as the warm-LibreOffice reference), then prints
# markdown tables: each conversion called directly against the same conversion
# through the service, one at a time and eight at once; docx → pdf cold, warm and
# through unoserver.
#   BENCH_RUNS=5 BENCH_CONCURRENT=8 ./scripts/bench-conversions.sh
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup-engines.sh
venv=target/unoserver-venv
if [ ! -x "$venv/bin/unoserver" ]; then
  # The system Python, for LibreOffice's UNO bridge; not fatal if it cannot be had.
  if /usr/bin/python3 -m venv --system-site-packages "$venv" >/dev/null 2>&1 \
    && "$venv/bin/pip" install --quiet unoserver; then
    echo "unoserver installed in $venv"
  else
    echo "unoserver could not be installed (python3-venv missing?); its row is skipped" >&2
  fi
fi
if [ -x "$venv/bin/unoserver" ]; then
  export BENCH_UNOSERVER="$PWD/$venv/bin/unoserver"
fi

cargo build --release --locked -p trustyconvert -p trustyconvert-bench
./target/release/conversions
