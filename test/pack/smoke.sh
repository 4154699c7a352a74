#!/usr/bin/env bash
# Pack smoke test: `npm pack` makes the tarball a user installs; installed into an empty folder, its
# `roecny-auth-proxy` bin runs `--version`, `demo` (a request through it answers) and `check` (one login
# against the mock, run from the same install). Dependencies come from npm's cache when they are there.
# Usage: bash test/pack/smoke.sh  (npm run test:pack). Run by .ci/run.
set -uo pipefail
cd "$(dirname "$0")/../.."

passed=0
failed=0
ok() { echo "ok - $*"; passed=$((passed + 1)); }
not_ok() { echo "not ok - $*"; failed=$((failed + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else not_ok "$what"; fi; }
finish() { echo "pack-smoke: $passed passed, $failed failed"; [ "$failed" = 0 ]; exit; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null; done
  wait 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
# Waits up to $1 seconds for `$@` to succeed, checking every 0.2 s.
wait_for() { local tenths=$(($1 * 5)); shift; for _ in $(seq "$tenths"); do "$@" && return 0; sleep 0.2; done; return 1; }

version=$(node -p 'require("./package.json").version')
# prepack builds dist/ first, so the tarball holds the compiled CLI of this tree.
if ! tarball=$(npm pack --silent --pack-destination "$work" 2>"$work/pack.log" | tail -1) || [ ! -f "$work/$tarball" ]; then
  tail -20 "$work/pack.log"
  not_ok "npm pack makes a tarball"
  finish
fi
ok "npm pack makes $tarball"
files=$(tar -tzf "$work/$tarball")
check "  ... with the compiled CLI and package.json" bash -c 'grep -qx package/dist/src/cli.js <<<"$1" && grep -qx package/package.json <<<"$1"' _ "$files"
check "  ... and no tests, TypeScript sources or source maps of tests" bash -c '! grep -Eq "^package/(test|src|bench)/|\.ts$" <<<"$1"' _ "$files"

app=$work/app
mkdir "$app"
(cd "$app" && npm init -y >/dev/null && npm install --prefer-offline --no-audit --no-fund "$work/$tarball") >"$work/install.log" 2>&1
code=$?
check "npm install <tarball> into an empty folder (exit $code)" test "$code" = 0
[ "$code" = 0 ] || { tail -20 "$work/install.log"; finish; }
bin=$app/node_modules/.bin/roecny-auth-proxy

out=$(cd "$app" && "$bin" --version 2>&1)
check "the installed bin prints its version ($out)" grep -q "$version" <<<"$out"

# demo: the mock and the proxy in front of it; the printed curl line answers.
(cd "$app" && PROXY_PORT=0 exec "$bin" demo) >"$work/demo.log" 2>&1 &
pids+=($!)
demo=$!
curl_line() { grep -Eo 'curl http://127\.0\.0\.1:[0-9]+/api/v1/balances/current' "$work/demo.log" | head -1; }
has_curl_line() { [ -n "$(curl_line)" ]; }
if wait_for 60 has_curl_line; then
  ok "demo starts and prints its curl lines"
  url=$(curl_line | cut -d' ' -f2)
  body=$(curl -sS --noproxy '*' "$url" 2>&1)
  check "  ... the printed request gets the mock's answer through the proxy" grep -q '"currency":"USD"' <<<"$body"
else
  not_ok "demo starts and prints its curl lines"
  tail -20 "$work/demo.log"
fi
kill -TERM "$demo" 2>/dev/null
wait "$demo"
code=$?
check "  ... and stops on SIGTERM with exit 0 (got $code)" test "$code" = 0

# check: one login against the mock, started from the same install.
(cd "$app" && MOCK_PORT=0 exec "$bin" mock) >"$work/mock.log" 2>&1 &
pids+=($!)
mock_url() { grep -Eo 'listening on http://127\.0\.0\.1:[0-9]+' "$work/mock.log" | head -1 | cut -d' ' -f3; }
has_mock() { [ -n "$(mock_url)" ]; }
if wait_for 30 has_mock; then
  out=$(cd "$app" && ROECNY_BASE_URL=$(mock_url) ROECNY_CLIENT_ID=demo-client ROECNY_API_KEY=demo-key "$bin" check 2>&1)
  code=$?
  check "check logs in once against the mock and exits 0 (got $code)" test "$code" = 0
  check "  ... printing the token's expiry" grep -qi 'expires' <<<"$out"
  out=$(cd "$app" && ROECNY_BASE_URL=$(mock_url) ROECNY_CLIENT_ID=demo-client ROECNY_API_KEY=wrong-key "$bin" check 2>&1)
  code=$?
  check "check with a rejected key exits 1 (got $code)" test "$code" = 1
else
  not_ok "the mock starts from the installed package"
  tail -20 "$work/mock.log"
fi
finish
