// Calls the Roecny API through roecny-auth-proxy: no credentials, no token handling. Node 18+ (fetch).
// Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 node client.mjs [path]   (default /api/v1/balances/current)
// Prints the answer on 200..299; exit 2 for the proxy's own errors, 1 for Roecny's.
const base = process.env.ROECNY_PROXY_URL ?? 'http://127.0.0.1:8080'
const path = process.argv[2] ?? '/api/v1/balances/current'

const res = await fetch(base + path, { signal: AbortSignal.timeout(30_000) })
const body = await res.text()
if (res.ok) {
  console.log(body)
} else {
  // The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
  const proxyError = res.headers.get('x-roecny-proxy-error')
  if (proxyError !== null) {
    console.error(`proxy error ${proxyError} (HTTP ${res.status})`)
    process.exitCode = 2
  } else {
    console.error(`Roecny answered HTTP ${res.status}: ${body}`)
    process.exitCode = 1
  }
}
