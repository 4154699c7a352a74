// The stack's own floor: Fastify 5 and @fastify/http-proxy as their documentation sets them up, with
// a fixed token and nothing else (no logger, no hooks). Whatever the proxy costs beyond it is its own.
// Usage: node dist/bench/fastify.js <upstream origin> <port>; prints the port once listening.
import httpProxy from '@fastify/http-proxy'
import Fastify from 'fastify'
import { STATIC_TOKEN } from './common.js'

const [origin = '', port = '0'] = process.argv.slice(2)
const app = Fastify({ keepAliveTimeout: 65_000 })

await app.register(httpProxy, {
  upstream: origin,
  // The same pool settings as the proxy's own (src/server.ts), so only the layers in between differ.
  undici: { connections: 128, keepAliveTimeout: 30_000 },
  replyOptions: {
    rewriteRequestHeaders (_request, headers) {
      return { ...headers, authorization: `Bearer ${STATIC_TOKEN}` }
    }
  }
})

const address = await app.listen({ host: '127.0.0.1', port: Number(port) })
process.stdout.write(`${new URL(address).port}\n`)
process.on('SIGTERM', () => {
  app.server.closeAllConnections()
  app.close().finally(() => process.exit(0))
})
