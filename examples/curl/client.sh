#!/bin/sh
# Calls the Roecny API through roecny-auth-proxy with curl: no credentials, no token handling.
# Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 sh client.sh [path]   (default /api/v1/balances/current)
# Prints the answer on 200..299; exit 2 for the proxy's own errors, 1 for Roecny's.
base="${ROECNY_PROXY_URL:-http://127.0.0.1:8080}"
path="${1:-/api/v1/balances/current}"
body=$(mktemp)
trap 'rm -f "$body"' EXIT

# --noproxy: the sidecar is local, never reached through an HTTP proxy from the environment.
meta=$(curl --silent --show-error --noproxy '*' --output "$body" \
  --write-out '%{http_code} %header{x-roecny-proxy-error}' "$base$path") || exit 1
set -- $meta
status=$1
proxy_error=${2:-}

case "$status" in
  2??) cat "$body"; echo; exit 0 ;;
esac
# The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
if [ -n "$proxy_error" ]; then
  echo "proxy error $proxy_error (HTTP $status)" >&2
  exit 2
fi
echo "Roecny answered HTTP $status: $(cat "$body")" >&2
exit 1
