// The floor: what Node itself forwards on one core. node:http in, an undici Pool out, a fixed token.
// Usage: node dist/bench/floor.js <upstream origin> <port>; prints the port once listening.
import { createServer } from '../src/node-http.js'
import type { IncomingHttpHeaders } from 'node:http'
import { Pool } from 'undici'
import { STATIC_TOKEN } from './common.js'

const [origin = '', port = '0'] = process.argv.slice(2)
// The same pool settings as the proxy's own (src/server.ts), so only the layers in between differ.
const pool = new Pool(origin, { connections: 128, keepAliveTimeout: 30_000 })
const host = new URL(origin).host
const HOP = ['connection', 'keep-alive', 'proxy-connection', 'te', 'trailer', 'transfer-encoding', 'upgrade']

function strip (headers: IncomingHttpHeaders): IncomingHttpHeaders {
  for (const name of HOP) delete headers[name]
  return headers
}

const server = createServer({ keepAliveTimeout: 65_000 }, function forward (req, res) {
  const headers = strip({ ...req.headers })
  headers.host = host
  headers.authorization = `Bearer ${STATIC_TOKEN}`
  const body = req.method === 'GET' || req.method === 'HEAD' ? null : req
  // stream(): undici writes the upstream body straight into `res`, with no Readable in between.
  pool.stream({ path: req.url as string, method: req.method as 'GET', headers, body }, function writeHead ({ statusCode, headers }) {
    res.writeHead(statusCode, strip(headers as IncomingHttpHeaders))
    return res
  }, function done (err) {
    if (err === null) return
    if (res.headersSent) res.destroy()
    else res.writeHead(502).end()
  })
})

server.listen(Number(port), '127.0.0.1', () => {
  const address = server.address()
  process.stdout.write(`${typeof address === 'object' && address !== null ? address.port : port}\n`)
})
process.on('SIGTERM', () => {
  server.closeAllConnections()
  pool.close().finally(() => process.exit(0))
})
