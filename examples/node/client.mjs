// Calls the Roecny API through roecny-auth-proxy: no credentials, no token handling. Node 18+ (fetch).
// Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 node client.mjs [GET path] [POST path] [JSON file]
//   GET path   default /api/v1/balances/current
//   POST path  default /api/v1/echo/example (the demo's echo route; use one of your API's POST routes)
//   JSON file  the POST body (default a small JSON object)
// Prints each answer on its own line; exit 2 for the proxy's own errors, 1 for Roecny's.
import { readFileSync } from 'node:fs'

const base = process.env.ROECNY_PROXY_URL ?? 'http://127.0.0.1:8080'
const [getPath = '/api/v1/balances/current', postPath = '/api/v1/echo/example', jsonFile] = process.argv.slice(2)
const json = jsonFile === undefined ? JSON.stringify({ request_id: 'example-1', amount: 12.5, currency: 'EUR' }) : readFileSync(jsonFile)

/** Prints the answer on 200..299 and returns 0; else says whose error it is and returns the exit code. */
async function call (path, init = {}) {
  const res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(30_000) })
  const body = await res.text()
  if (res.ok) {
    console.log(body)
    return 0
  }
  // The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
  const proxyError = res.headers.get('x-roecny-proxy-error')
  if (proxyError !== null) {
    console.error(`proxy error ${proxyError} (HTTP ${res.status})`)
    return 2
  }
  console.error(`Roecny answered HTTP ${res.status}: ${body}`)
  return 1
}

process.exitCode = await call(getPath) ||
  await call(postPath, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json })
