#!/usr/bin/env bash
# Instructions per validated request (`GET /api/session`), counted by valgrind's
# callgrind: repeatable on a shared, noisy machine where requests per second are not.
# Measures this service (memory store), bare axum and axum + tower-sessions (memory):
# each server runs under callgrind, 200 requests warm it up, the counters are zeroed,
# 1000 requests on one keep-alive connection are counted.
#   ./scripts/bench-instructions.sh
# Note: valgrind's CPU has no SHA extensions, so SHA-256 (session-key hashing, CSRF
# MACs) costs several times more instructions here than natively.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v valgrind >/dev/null 2>&1; then
  ./scripts/apt-install.sh valgrind
fi
cargo build --release --locked -p trustyconvert -p trustyconvert-bench

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cat > "$work/load.py" <<'PY'
import http.client, sys
port, count = int(sys.argv[1]), int(sys.argv[2])
connection = http.client.HTTPConnection("127.0.0.1", port)
connection.request("GET", "/api/session/init")
response = connection.getresponse()
response.read()
cookie = "; ".join(v.split(";")[0] for k, v in response.getheaders() if k.lower() == "set-cookie")
for _ in range(count):
    connection.request("GET", "/api/session", headers={"Cookie": cookie})
    response = connection.getresponse()
    response.read()
    assert response.status == 200, response.status
PY

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

wait_for() {
  for _ in $(seq 1 200); do
    if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $1), 1)" 2>/dev/null; then
      return 0
    fi
    sleep 0.1
  done
  echo "server on port $1 did not start" >&2
  return 1
}

# measure NAME COMMAND...: runs COMMAND (its argument ADDR replaced by a free loopback
# address) under callgrind; prints "NAME: N instructions per validated request".
measure() {
  local name=$1
  shift
  local port
  port=$(free_port)
  local args=()
  for arg in "$@"; do
    args+=("${arg/ADDR/127.0.0.1:$port}")
  done
  local out="$work/callgrind.out"
  rm -f "$out"*
  valgrind --tool=callgrind --callgrind-out-file="$out" "${args[@]}" >"$work/server.log" 2>&1 &
  local pid=$!
  wait_for "$port"
  python3 "$work/load.py" "$port" 200
  callgrind_control -z "$pid" >/dev/null
  python3 "$work/load.py" "$port" 1000
  callgrind_control -d "$pid" >/dev/null
  sleep 1
  kill "$pid"
  wait "$pid" 2>/dev/null || true
  local total
  total=$(callgrind_annotate "$out.1" 2>/dev/null | awk '/PROGRAM TOTALS/ {gsub(",", "", $1); print $1}')
  echo "$name: $((total / 1000)) instructions per validated request"
}

measure "TrustyConvert (memory)" ./target/release/trustyconvert serve --store memory \
  --data-dir "$work/data" --insecure-cookies --rate-limit-init 0 --libreoffice off --bind ADDR
measure "axum (bare, ceiling)" ./target/release/baseline bare ADDR redis://127.0.0.1:1
measure "axum + tower-sessions (memory)" ./target/release/baseline tower-memory ADDR redis://127.0.0.1:1
