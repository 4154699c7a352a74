// The one list of errors the proxy answers with itself, and the one function that sends them.
import type { FastifyReply } from 'fastify'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { STATUS_CODES } from './node-http.js'

export const ERROR_SOURCE = 'roecny-auth-proxy'
export const ERROR_HEADER = 'x-roecny-proxy-error'

export interface ProxyErrorDefinition {
  readonly status: number
  readonly message: string
}

/** Every PROXY_* code with its status and the message a client sees. */
export const PROXY_ERRORS = {
  PROXY_BAD_REQUEST: { status: 400, message: 'The request cannot be forwarded as sent: its target, a header or its framing is malformed or unsafe' },
  PROXY_ACCESS_DENIED: { status: 401, message: 'This proxy requires a valid x-proxy-key header' },
  PROXY_FORBIDDEN_HOST: { status: 403, message: 'The Host header names a host this proxy does not serve' },
  PROXY_FORBIDDEN_ORIGIN: { status: 403, message: 'Cross-site browser requests are not allowed through this proxy' },
  PROXY_PATH_NOT_ALLOWED: { status: 403, message: 'This path is not allowed through this proxy' },
  PROXY_LOGIN_BLOCKED: { status: 403, message: 'The proxy logs in by itself; the login endpoint cannot be called through it' },
  PROXY_NOT_FOUND: { status: 404, message: 'No such route among the proxy\'s own /-/ routes' },
  PROXY_METHOD_NOT_ALLOWED: { status: 405, message: 'This method is not allowed through this proxy' },
  PROXY_BODY_TOO_LARGE: { status: 413, message: 'The request body is larger than this proxy accepts' },
  PROXY_EXPECTATION_FAILED: { status: 417, message: 'The only expectation this proxy meets is Expect: 100-continue' },
  PROXY_RATE_LIMITED: { status: 429, message: 'The proxy is holding requests to stay inside Roecny\'s limits; retry after the time in Retry-After' },
  PROXY_INTERNAL_ERROR: { status: 500, message: 'The proxy failed to handle this request' },
  PROXY_UPSTREAM_UNREACHABLE: { status: 502, message: 'The Roecny API could not be reached' },
  PROXY_TOKEN_UNAVAILABLE: { status: 503, message: 'No Roecny access token is available yet; retry shortly' },
  PROXY_DRAINING: { status: 503, message: 'The proxy is shutting down' },
  PROXY_UPSTREAM_TIMEOUT: { status: 504, message: 'The Roecny API did not answer in time' }
} as const satisfies Record<string, ProxyErrorDefinition>

export type ProxyErrorCode = keyof typeof PROXY_ERRORS

// Bodies are built once: sending an error must not cost a JSON serialisation each time.
const BODIES = Object.fromEntries(
  Object.entries(PROXY_ERRORS).map(([code, { message }]) =>
    [code, JSON.stringify({ code, message, source: ERROR_SOURCE })])
) as Record<ProxyErrorCode, string>

/** True while a request's body has been announced and has not all arrived. */
function bodyStillComing (request: IncomingMessage): boolean {
  if (request.complete) return false
  const length = request.headers['content-length']
  return request.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}

/**
 * Answers with the proxy's own JSON error. `headers` adds e.g. Retry-After. A refusal sent before
 * the request's body has arrived closes the connection: the body is then not read for nothing, and
 * whatever is wrong with it (a bad chunk, a client that stops short) can no longer draw a second
 * answer that the client would take for the answer to its next request.
 */
export function sendProxyError (reply: FastifyReply, code: ProxyErrorCode, headers?: Record<string, string>): FastifyReply {
  reply.code(PROXY_ERRORS[code].status)
  reply.header(ERROR_HEADER, code)
  reply.header('content-type', 'application/json; charset=utf-8')
  reply.header('cache-control', 'no-store')
  if (bodyStillComing(reply.request.raw)) reply.header('connection', 'close')
  if (headers !== undefined) reply.headers(headers)
  return reply.send(BODIES[code])
}

/**
 * The same answer on a Node response, for requests answered before they become a Fastify request
 * (an unmet Expect); the connection is closed after it, as a body may follow unread.
 */
export function writeProxyError (res: ServerResponse, code: ProxyErrorCode): void {
  const body = BODIES[code]
  res.writeHead(PROXY_ERRORS[code].status, {
    [ERROR_HEADER]: code,
    'content-type': 'application/json; charset=utf-8',
    'cache-control': 'no-store',
    connection: 'close',
    'content-length': Buffer.byteLength(body)
  })
  res.end(body)
}

/**
 * The same answer as raw HTTP/1.1 bytes, for requests that never become a Fastify request (the
 * parser refused them, or CONNECT); the connection is closed after it.
 */
export function rawProxyError (code: ProxyErrorCode): string {
  const { status } = PROXY_ERRORS[code]
  const body = BODIES[code]
  return `HTTP/1.1 ${status} ${STATUS_CODES[status] as string}\r\n${ERROR_HEADER}: ${code}\r\n` +
    'content-type: application/json; charset=utf-8\r\ncache-control: no-store\r\nconnection: close\r\n' +
    `content-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`
}
