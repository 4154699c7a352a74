// Which request headers never reach Roecny: hop-by-hop ones and the credentials of every layer.

/**
 * Removed from every forwarded request. `connection` and the names it lists are already
 * stripped by @fastify/reply-from before our rewrite runs, so a client cannot use
 * `Connection: authorization` to remove the header the proxy adds. `expect` is answered by the
 * proxy itself (src/proxy/expect.ts), or ignored in an HTTP/1.0 request; undici refuses it.
 */
const DROPPED_REQUEST_HEADERS = [
  'authorization',
  'expect',
  'x-api-key',
  'x-client-id',
  'x-proxy-key',
  'proxy-authorization',
  'proxy-connection',
  'keep-alive',
  'trailer',
  'transfer-encoding',
  'upgrade'
] as const

export function stripRequestHeaders (headers: Record<string, string | string[] | undefined>): void {
  for (const name of DROPPED_REQUEST_HEADERS) {
    if (headers[name] !== undefined) delete headers[name]
  }
  // TE is hop-by-hop too; only `trailers` may be passed on (RFC 9110 §10.1.4).
  if (headers.te !== undefined && headers.te !== 'trailers') delete headers.te
}

/** True when the client's request carries a body, so it cannot be replayed. */
export function hasBody (headers: Record<string, string | string[] | undefined>): boolean {
  const length = headers['content-length']
  return headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0')
}
