// Hand-built HTTP/1.1 requests for the adversarial tests (no client library tidies them up), and what they assert.
import type { Test } from 'tap'
import type { MockRoecny } from '../../src/mock/roecny.js'
import { rawRequest } from './http.js'

export interface RawResponse {
  status: number
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>
  body: string
  raw: string
}

function dechunk (body: string): string {
  let out = ''
  let rest = body
  for (;;) {
    const lineEnd = rest.indexOf('\r\n')
    const size = parseInt(rest.slice(0, lineEnd), 16)
    if (lineEnd === -1 || !(size > 0)) return out
    out += rest.slice(lineEnd + 2, lineEnd + 2 + size)
    rest = rest.slice(lineEnd + 4 + size)
  }
}

export function parseRaw (raw: string): RawResponse {
  const end = raw.indexOf('\r\n\r\n')
  const [statusLine = '', ...lines] = (end === -1 ? raw : raw.slice(0, end)).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    const name = line.slice(0, colon).trim().toLowerCase()
    const value = line.slice(colon + 1).trim()
    headers[name] = headers[name] === undefined ? value : `${headers[name]}, ${value}`
  }
  const body = end === -1 ? '' : raw.slice(end + 4)
  return {
    status: Number(/^HTTP\/1\.[01] (\d{3}) /.exec(statusLine)?.[1] ?? 0),
    headers,
    body: headers['transfer-encoding'] === 'chunked' ? dechunk(body) : body,
    raw
  }
}

export interface RawRequest {
  method?: string
  /** The request target exactly as it goes on the wire. */
  target: string
  /** `Host` header value (default `localhost`); null sends none. */
  host?: string | null
  headers?: Record<string, string>
  /** Sent with a Content-Length unless `headers` has Transfer-Encoding or Content-Length. */
  body?: string
  version?: string
}

export function buildRaw (request: RawRequest): string {
  const lines = [`${request.method ?? 'GET'} ${request.target} ${request.version ?? 'HTTP/1.1'}`]
  if (request.host !== null) lines.push(`Host: ${request.host ?? 'localhost'}`)
  const headers = request.headers ?? {}
  for (const [name, value] of Object.entries(headers)) lines.push(`${name}: ${value}`)
  const framed = Object.keys(headers).some((name) => /^(content-length|transfer-encoding)$/i.test(name))
  if (request.body !== undefined && !framed) lines.push(`Content-Length: ${Buffer.byteLength(request.body)}`)
  lines.push('Connection: close', '', request.body ?? '')
  return lines.join('\r\n')
}

/** Sends one request on a fresh connection (`http://host:port` or `unix:/path`) and parses the answer. */
export async function send (url: string, request: RawRequest | string): Promise<RawResponse> {
  return parseRaw(await rawRequest(url, typeof request === 'string' ? request : buildRaw(request)))
}

/** The proxy's own error: status, `x-roecny-proxy-error` and the JSON body, all naming `code`. */
export function expectProxyError (t: Test, response: RawResponse, status: number, code: string, what: string): void {
  t.equal(response.status, status, `${what}: ${status}`)
  t.equal(response.headers['x-roecny-proxy-error'], code, `${what}: ${code}`)
  let body: unknown
  try {
    body = JSON.parse(response.body)
  } catch {
    body = response.body
  }
  t.match(body, { code, source: 'roecny-auth-proxy' }, `${what}: JSON body`)
}

/** Remembers what the mock has seen so far; `untouched()` asserts nothing more reached it since. */
export function upstreamView (mock: MockRoecny): { untouched: (t: Test, what: string) => void } {
  const requests = mock.requests.length
  const logins = mock.logins.length
  return {
    untouched (t, what) {
      t.equal(mock.requests.length, requests, `${what}: no request reached the upstream`)
      t.equal(mock.logins.length, logins, `${what}: no login reached the upstream`)
    }
  }
}
