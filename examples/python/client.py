#!/usr/bin/env python3
"""Calls the Roecny API through roecny-auth-proxy: no credentials, no token handling. Standard library only.

Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 python3 client.py [GET path] [POST path] [JSON file]
  GET path   default /api/v1/balances/current
  POST path  default /api/v1/echo/example (the demo's echo route; use one of your API's POST routes)
  JSON file  the POST body (default a small JSON object)
Prints each answer on its own line. Exit codes tell whose failure it is:
  0 success   1 Roecny answered an error   2 the proxy's own error (x-roecny-proxy-error)
  3 no answer from the proxy (not running, refused, or nothing within 30 s)
  66 the JSON file cannot be read (nothing is sent)
"""
import json
import os
import sys
import urllib.error
import urllib.request

# No ProxyHandler settings: the sidecar is local, never reached through an HTTP proxy from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def call(request: urllib.request.Request) -> int:
    """Prints the answer on 200..299 and returns 0; else says whose error it is and returns the exit code."""
    try:
        with OPENER.open(request, timeout=30) as res:
            print(res.read().decode("utf-8"))
            return 0
    except urllib.error.HTTPError as err:
        # The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
        proxy_error = err.headers.get("x-roecny-proxy-error")
        if proxy_error:
            print(f"proxy error {proxy_error} (HTTP {err.code})", file=sys.stderr)
            return 2
        print(f"Roecny answered HTTP {err.code}: {err.read().decode('utf-8')}", file=sys.stderr)
        return 1
    except (urllib.error.URLError, OSError) as err:
        # Refused, reset, or no answer in time: the proxy is not there (or not answering).
        print(f"no answer from the proxy at {request.full_url}: {getattr(err, 'reason', err)}", file=sys.stderr)
        return 3


def main() -> int:
    base = os.environ.get("ROECNY_PROXY_URL", "http://127.0.0.1:8080")
    get_path = sys.argv[1] if len(sys.argv) > 1 else "/api/v1/balances/current"
    post_path = sys.argv[2] if len(sys.argv) > 2 else "/api/v1/echo/example"
    if len(sys.argv) > 3:
        # A file that cannot be read is an error before anything is sent, never an empty upload.
        try:
            with open(sys.argv[3], "rb") as file:
                body = file.read()
        except OSError as err:
            print(f"cannot read the JSON file {sys.argv[3]}: {err.strerror}", file=sys.stderr)
            return 66
    else:
        body = json.dumps({"request_id": "example-1", "amount": 12.5, "currency": "EUR"}).encode("utf-8")
    return call(urllib.request.Request(base + get_path)) or call(urllib.request.Request(
        base + post_path, data=body, method="POST", headers={"Content-Type": "application/json"}))


if __name__ == "__main__":
    sys.exit(main())
