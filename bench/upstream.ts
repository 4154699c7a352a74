// The bench upstream: a minimal, fast stand-in for Roecny, so that the proxy under test is the bottleneck.
// Run as a child process: `node dist/bench/upstream.js`; it prints its port on stdout once listening.
import { createServer } from '../src/node-http.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

import { API_BODY, BENCH_API_KEY, BENCH_CLIENT_ID } from './common.js'

const CHUNK = Buffer.alloc(64 * 1024, 'roecny-bench-')
const API_HEADERS = { 'content-type': 'application/json', 'content-length': String(API_BODY.length) }

let logins = 0
let loginDelayMs = 0
let tokenSerial = 0

/** `2025-04-25T07:27:04+0000`, the vendor's format. */
function vendorTime (ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, '+0000')
}

function json (res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body)
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) })
  res.end(text)
}

function login (req: IncomingMessage, res: ServerResponse): void {
  logins++
  req.resume()
  const ok = req.headers['x-client-id'] === BENCH_CLIENT_ID && req.headers['x-api-key'] === BENCH_API_KEY
  setTimeout(function answerLogin () {
    if (!ok) return json(res, 401, { code: 'INVALID_CREDENTIALS', message: 'bad client id or api key' })
    tokenSerial++
    json(res, 200, { expires_at: vendorTime(Date.now() + 30 * 60_000), token: `bench-token-${tokenSerial}` })
  }, loginDelayMs)
}

/** Counts an upload's bytes without keeping them. */
function upload (req: IncomingMessage, res: ServerResponse): void {
  let bytes = 0
  req.on('data', (chunk: Buffer) => { bytes += chunk.length })
  req.on('end', () => json(res, 200, { bytes }))
}

/** Streams `bytes` bytes, honouring backpressure. */
function download (res: ServerResponse, bytes: number): void {
  let left = bytes
  res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(bytes) })
  function more (): void {
    while (left > 0) {
      const chunk = left >= CHUNK.length ? CHUNK : CHUNK.subarray(0, left)
      left -= chunk.length
      if (!res.write(chunk)) {
        res.once('drain', more)
        return
      }
    }
    res.end()
  }
  more()
}

function control (req: IncomingMessage, res: ServerResponse, url: URL): void {
  req.resume()
  if (url.pathname === '/_bench/stats') return json(res, 200, { logins })
  if (url.pathname === '/_bench/login-delay') {
    loginDelayMs = Number(url.searchParams.get('ms') ?? 0)
    return json(res, 200, { loginDelayMs })
  }
  json(res, 404, { code: 'NOT_FOUND' })
}

function handle (req: IncomingMessage, res: ServerResponse): void {
  const url = req.url as string
  // The hot path: one prefix check and a header check, then a prebuilt answer.
  if (url.startsWith('/api/v1/balances/')) {
    req.resume()
    if (req.headers.authorization?.startsWith('Bearer ') !== true) return json(res, 401, { code: 'UNAUTHORIZED' })
    res.writeHead(200, API_HEADERS)
    res.end(API_BODY)
    return
  }
  if (req.method === 'POST' && url === '/api/v1/authentication/login') return login(req, res)
  const parsed = new URL(url, 'http://upstream')
  if (parsed.pathname === '/api/v1/upload') return upload(req, res)
  if (parsed.pathname === '/api/v1/download') return download(res, Number(parsed.searchParams.get('bytes') ?? 0))
  control(req, res, parsed)
}

const server = createServer({ keepAliveTimeout: 120_000, requestTimeout: 0 }, handle)
server.listen(0, '127.0.0.1', () => {
  process.stdout.write(`${(server.address() as AddressInfo).port}\n`)
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  server.close(() => process.exit(0))
})
