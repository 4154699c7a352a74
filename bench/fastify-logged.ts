// The stack's own floor with SPEC §8's access line: bench/fastify.ts plus one pino line per request
// (request id, method, path without the query, status, duration, upstream duration), written to a
// file through pino's own destination batched as the proxy's is. What the stack itself pays for
// that line is not the proxy's cost.
// Usage: node dist/bench/fastify-logged.js <upstream origin> <port> <log file>; prints the port once listening.
import httpProxy from '@fastify/http-proxy'
import Fastify, { LogController } from 'fastify'
import pino from 'pino'
import { LOG_BATCH_CHARS, LOG_BATCH_MS } from '../src/log.js'
import { STATIC_TOKEN } from './common.js'

const [origin = '', port = '0', logFile = ''] = process.argv.slice(2)
const destination = pino.destination({ dest: logFile, sync: true, minLength: LOG_BATCH_CHARS, periodicFlush: LOG_BATCH_MS })
// Fastify's own two lines per request are off: SPEC asks for one.
const app = Fastify({ keepAliveTimeout: 65_000, loggerInstance: pino(destination), logController: new LogController({ disableRequestLogging: true }) })
app.decorateRequest('upstreamStart', 0)
app.decorateRequest('upstreamMs', -1)

declare module 'fastify' {
  interface FastifyRequest {
    upstreamStart: number
    upstreamMs: number
  }
}

app.addHook('onResponse', function accessLine (request, reply, done) {
  const query = request.url.indexOf('?')
  request.log.info({
    method: request.method,
    path: query === -1 ? request.url : request.url.slice(0, query),
    status: reply.statusCode,
    durationMs: Math.round(reply.elapsedTime * 100) / 100,
    upstreamMs: request.upstreamMs < 0 ? undefined : Math.round(request.upstreamMs * 100) / 100
  }, 'request')
  done()
})

await app.register(httpProxy, {
  upstream: origin,
  // reply-from's own two info lines per request would double the line.
  disableRequestLogging: true,
  // The same pool settings as the proxy's own (src/server.ts), so only the layers in between differ.
  undici: { connections: 128, keepAliveTimeout: 30_000 },
  replyOptions: {
    rewriteRequestHeaders (request, headers) {
      request.upstreamStart = performance.now()
      return { ...headers, authorization: `Bearer ${STATIC_TOKEN}` }
    },
    onResponse (request, reply, res) {
      request.upstreamMs = performance.now() - request.upstreamStart
      reply.send((res as unknown as { stream: unknown }).stream)
    }
  }
})

const address = await app.listen({ host: '127.0.0.1', port: Number(port) })
process.stdout.write(`${new URL(address).port}\n`)
process.on('SIGTERM', () => {
  app.server.closeAllConnections()
  app.close().finally(() => {
    destination.flushSync()
    process.exit(0)
  })
})
