// The body limit: a declared Content-Length over PROXY_MAX_BODY_BYTES is refused before a byte is read; a chunked body is counted as it streams.
import type { IncomingMessage } from 'node:http'
import { Transform } from 'node:stream'
import type { FastifyRequest, preParsingHookHandler } from 'fastify'
import { isOwnTarget } from './target.js'

/** Set on the counting stream once a chunked body went over the limit. */
class BodyTooLargeError extends Error {
  readonly code = 'PROXY_BODY_TOO_LARGE'
}

/** True when the request declares a Content-Length over the limit. */
export function declaredTooLarge (request: FastifyRequest, maxBody: number): boolean {
  const length = request.headers['content-length']
  return length !== undefined && Number(length) > maxBody
}

/** A chunked body passes through this counter; past the limit it fails, which aborts the upstream request. */
function countBody (request: FastifyRequest, source: IncomingMessage | NodeJS.ReadableStream, limit: number): Transform {
  let seen = 0
  const counter = new Transform({
    transform (chunk: Buffer, _encoding, callback) {
      seen += chunk.length
      if (seen > limit) {
        request.bodyTooLarge = true
        callback(new BodyTooLargeError('request body over PROXY_MAX_BODY_BYTES'))
        return
      }
      callback(null, chunk)
    }
  })
  // The upstream request reports the failure; a body nobody reads (a GET's) must not crash the process.
  counter.on('error', function ignore () {})
  source.on('error', (err: Error) => counter.destroy(err))
  source.pipe(counter)
  return counter
}

/** The preParsing hook that counts chunked bodies; undefined without a limit, so it costs nothing then. */
export function bodyLimitHook (maxBody: number | undefined): preParsingHookHandler | undefined {
  if (maxBody === undefined) return undefined
  return function limitBody (request, _reply, payload, done) {
    // A body with a Content-Length was checked in onRequest, and Node reads no more than it declares.
    if (request.headers['transfer-encoding'] === undefined || isOwnTarget(request.url)) {
      done(null, payload)
      return
    }
    done(null, countBody(request, payload, maxBody))
  }
}
