#!/usr/bin/env python3
"""Calls the Roecny API through roecny-auth-proxy: no credentials, no token handling. Standard library only.

Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 python3 client.py [path]   (default /api/v1/balances/current)
Prints the answer on 200..299; exit 2 for the proxy's own errors, 1 for Roecny's.
"""
import os
import sys
import urllib.error
import urllib.request


def main() -> int:
    base = os.environ.get("ROECNY_PROXY_URL", "http://127.0.0.1:8080")
    path = sys.argv[1] if len(sys.argv) > 1 else "/api/v1/balances/current"
    # No ProxyHandler settings: the sidecar is local, never reached through an HTTP proxy from the environment.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(base + path, timeout=30) as res:
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


if __name__ == "__main__":
    sys.exit(main())
