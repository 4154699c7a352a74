#!/bin/sh
# Calls the Roecny API through roecny-auth-proxy with curl: no credentials, no token handling.
# Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 sh client.sh [GET path] [POST path] [JSON file]
#   GET path   default /api/v1/balances/current
#   POST path  default /api/v1/echo/example (the demo's echo route; use one of your API's POST routes)
#   JSON file  the POST body (default a small JSON object); curl sends a body over 1 MB with
#              Expect: 100-continue, which the proxy answers once it accepts the request.
# Prints each answer on its own line. Exit codes tell whose failure it is:
#   0 success   1 Roecny answered an error   2 the proxy's own error (x-roecny-proxy-error)
#   3 no answer from the proxy (not running, refused, or nothing within 30 s)
#   66 the JSON file cannot be read (nothing is sent)
base="${ROECNY_PROXY_URL:-http://127.0.0.1:8080}"
get_path="${1:-/api/v1/balances/current}"
post_path="${2:-/api/v1/echo/example}"
json_file="${3:-}"
# A file that is missing is an error before anything is sent, never an empty upload.
if [ -n "$json_file" ] && { [ ! -f "$json_file" ] || [ ! -r "$json_file" ]; }; then
  echo "cannot read the JSON file $json_file" >&2
  exit 66
fi
answer=$(mktemp)
trap 'rm -f "$answer"' EXIT

# call PATH [curl options]: prints the answer on 200..299, else says whose error it is and exits.
call() {
  path=$1
  shift
  # --noproxy: the sidecar is local, never reached through an HTTP proxy from the environment.
  if ! meta=$(curl --silent --show-error --noproxy '*' --max-time 30 --output "$answer" \
    --write-out '%{http_code} %header{x-roecny-proxy-error}' "$@" "$base$path"); then
    echo "no answer from the proxy at $base" >&2
    exit 3
  fi
  set -- $meta
  status=$1
  proxy_error=${2:-}
  case "$status" in
    2??) cat "$answer"; echo; return 0 ;;
  esac
  # The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
  if [ -n "$proxy_error" ]; then
    echo "proxy error $proxy_error (HTTP $status)" >&2
    exit 2
  fi
  echo "Roecny answered HTTP $status: $(cat "$answer")" >&2
  exit 1
}

call "$get_path"
if [ -n "$json_file" ]; then
  call "$post_path" -H 'Content-Type: application/json' --data-binary "@$json_file"
else
  call "$post_path" -H 'Content-Type: application/json' --data-binary '{"request_id":"example-1","amount":12.5,"currency":"EUR"}'
fi
