// Calls the Roecny API through roecny-auth-proxy: no credentials, no token handling. Node 18+ (fetch).
// Usage: ROECNY_PROXY_URL=http://127.0.0.1:8080 node client.mjs [GET path] [POST path] [JSON file]
//   GET path   default /api/v1/balances/current
//   POST path  default /api/v1/echo/example (the demo's echo route; use one of your API's POST routes)
//   JSON file  the POST body (default a small JSON object)
// Prints each answer on its own line. Exit codes tell whose failure it is:
//   0 success   1 Roecny answered an error   2 the proxy's own error (x-roecny-proxy-error)
//   3 no answer from the proxy (not running, refused, or nothing within 30 s)
//   66 the JSON file cannot be read (nothing is sent)
import { readFileSync } from 'node:fs'

const base = process.env.ROECNY_PROXY_URL ?? 'http://127.0.0.1:8080'
const [getPath = '/api/v1/balances/current', postPath = '/api/v1/echo/example', jsonFile] = process.argv.slice(2)

/** The POST body; a file that cannot be read is an error before anything is sent, never an empty upload. */
function body () {
  if (jsonFile === undefined) return JSON.stringify({ request_id: 'example-1', amount: 12.5, currency: 'EUR' })
  try {
    return readFileSync(jsonFile)
  } catch (error) {
    console.error(`cannot read the JSON file ${jsonFile}: ${error.code}`)
    process.exit(66)
  }
}

/** Prints the answer on 200..299 and returns 0; else says whose error it is and returns the exit code. */
async function call (path, init = {}) {
  let res
  let text
  try {
    res = await fetch(base + path, { ...init, signal: AbortSignal.timeout(30_000) })
    text = await res.text()
  } catch (error) {
    // Refused, reset, or no answer in time: the proxy is not there (or not answering).
    console.error(`no answer from the proxy at ${base}: ${error.cause?.code ?? error.name}`)
    return 3
  }
  if (res.ok) {
    console.log(text)
    return 0
  }
  // The proxy marks its own errors (no token yet, Roecny unreachable, ...) with x-roecny-proxy-error.
  const proxyError = res.headers.get('x-roecny-proxy-error')
  if (proxyError !== null) {
    console.error(`proxy error ${proxyError} (HTTP ${res.status})`)
    return 2
  }
  console.error(`Roecny answered HTTP ${res.status}: ${text}`)
  return 1
}

const json = body()
process.exitCode = await call(getPath) ||
  await call(postPath, { method: 'POST', headers: { 'content-type': 'application/json' }, body: json })
