#!/usr/bin/env bash
# Where a request's CPU time goes, natively: runs a server under wrk load, samples it
# with `perf record` (DWARF call graphs) and prints the share of the server's samples
# spent in each part of the request path (kernel, hyper/tokio, the frame, the session
# guard, the handler and what they call).
#   ./scripts/bench-profile.sh [validate|new-session|rotate] [ours|bare|tower-memory]
# (defaults: validate, ours = this service with its memory store; bare and
# tower-memory are the benchmark's comparison servers).
# Needs perf (installed from the distribution's linux-perf package when missing).
set -euo pipefail
cd "$(dirname "$0")/.."

operation=${1:-validate}
which=${2:-ours}
if ! command -v perf >/dev/null 2>&1; then
  ./scripts/apt-install.sh linux-perf
fi
if ! command -v wrk >/dev/null 2>&1; then
  ./scripts/apt-install.sh wrk
fi
cargo build --release --locked -p trustyconvert -p trustyconvert-bench

work=$(mktemp -d)
server=""
cleanup() {
  if [ -n "$server" ]; then kill "$server" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
case "$which" in
  ours)
    ./target/release/trustyconvert serve --store memory --data-dir "$work/data" --insecure-cookies \
      --rate-limit-init 0 --libreoffice off --bind "127.0.0.1:$port" >"$work/server.log" 2>&1 & ;;
  bare | tower-memory)
    ./target/release/baseline "$which" "127.0.0.1:$port" >"$work/server.log" 2>&1 & ;;
  *)
    echo "unknown server: $which (ours, bare or tower-memory)" >&2
    exit 2 ;;
esac
server=$!
for _ in $(seq 1 100); do
  curl -s -o /dev/null "http://127.0.0.1:$port/api/session/init" && break
  sleep 0.1
done

# A session for validate and rotate: its cookies, and its token for the first rotation.
headers=$(curl -s -D - -o "$work/init.json" "http://127.0.0.1:$port/api/session/init")
session=$(printf '%s\n' "$headers" | grep -io 'trustyconvert_session=[^;]*' | head -n 1 || true)
token=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["data"]["csrf_token"])' "$work/init.json")
cookie="$session; csrftoken=$token"
case "$operation" in
  validate)
    load=(-H "Cookie: $cookie" "http://127.0.0.1:$port/api/session") ;;
  new-session)
    load=("http://127.0.0.1:$port/api/session/init") ;;
  rotate)
    # One chain: each request carries the token of the previous answer.
    cat >"$work/rotate.lua" <<LUA
local token = "$token"
request = function()
  return wrk.format("POST", "/api/session/csrf", {
    ["Cookie"] = "$session; csrftoken=" .. token,
    ["X-CSRF-Token"] = token,
    ["Content-Length"] = "0",
  }, "")
end
response = function(status, headers, body)
  local next = body:match('"csrf_token":"([^"]+)"')
  if next then token = next end
end
LUA
    load=(-s "$work/rotate.lua" "http://127.0.0.1:$port") ;;
  *)
    echo "unknown operation: $operation (validate, new-session or rotate)" >&2
    exit 2 ;;
esac
connections=32
threads=2
if [ "$operation" = rotate ]; then connections=1; threads=1; fi

wrk -t "$threads" -c "$connections" -d 2s "${load[@]}" >/dev/null
perf record -F 2999 --call-graph dwarf,16384 -p "$server" -o "$work/perf.data" -- sleep 3 \
  >/dev/null 2>&1 &
recorder=$!
wrk -t "$threads" -c "$connections" -d 4s "${load[@]}" | grep -E 'Requests/sec|Non-2xx' || true
wait "$recorder" || true
perf script -i "$work/perf.data" 2>/dev/null >"$work/stacks.txt"
python3 scripts/profile_breakdown.py "$work/stacks.txt"
