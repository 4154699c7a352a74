// Who is calling: one Host line naming this proxy, a listed browser origin (or none), the access key.
import { isIP } from 'node:net'
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { sendProxyError } from '../errors.js'
import { LOOPBACK_NAMES } from '../hosts.js'
import type { AccessKeys } from './access-keys.js'
import { answerPreflight } from './cors.js'

const LEFT_BRACKET = 0x5b
const PORT_SUFFIX = /^(?::\d{1,5})?$/

/** `[v6]:port`, `[v6]`, `name:port`, `name` or a bare IPv6 address: the name part, or undefined when the port is not a number. */
function hostName (host: string): string | undefined {
  let end: number
  if (host.charCodeAt(0) === LEFT_BRACKET) {
    end = host.indexOf(']') + 1
    if (end === 0) return undefined
  } else {
    end = host.indexOf(':')
    // No colon: no port. Two colons or more: a bare IPv6 address, which cannot carry one.
    if (end === -1 || host.indexOf(':', end + 1) !== -1) return host
  }
  return PORT_SUFFIX.test(host.slice(end)) ? host.slice(0, end) : undefined
}

/**
 * True when the request has more than one Host line, which RFC 9112 §3.2 refuses with 400 (Node
 * keeps the first and drops the others, so the check would see one and the sender meant another).
 * A scan of the raw names by length: about 20 ns for a usual request.
 */
function repeatedHost (rawHeaders: string[]): boolean {
  let seen = false
  for (let i = 0; i < rawHeaders.length; i += 2) {
    const name = rawHeaders[i] as string
    if (name.length === 4 && (name === 'Host' || name.toLowerCase() === 'host')) {
      if (seen) return true
      seen = true
    }
  }
  return false
}

/** Both spellings of an IPv6 address (`::1`, `[::1]`), as Host carries it bracketed. */
function spellings (host: string): string[] {
  const name = host.toLowerCase()
  return isIP(name) === 6 ? [name, `[${name}]`] : [name]
}

/** A check that answers the request itself and returns true when it must not go on. */
export type RequestCheck = (request: FastifyRequest, reply: FastifyReply) => boolean

/** Host, browser origin (and the CORS preflight) and access key; `accessKeys` may be replaced at run time. */
export function createCallerCheck (config: Config, accessKeys: AccessKeys): RequestCheck {
  const hostCheck = config.proxySocket === undefined && !config.allowedHosts.includes('*')
  const hosts = new Set([...LOOPBACK_NAMES, ...spellings(config.proxyHost), ...config.allowedHosts.flatMap(spellings)])
  const origins = new Set(config.corsOrigins)
  // Decided once: a file of keys can be rotated, but never emptied (an empty file is ignored).
  const keyCheck = accessKeys.required
  const methods = config.allowMethods === undefined ? undefined : new Set(config.allowMethods)
  const allowHeader = config.allowMethods?.join(', ')
  // Clients send the same Host on every request: one string comparison instead of a parse.
  let lastAcceptedHost: string | undefined

  function acceptedHost (host: string | undefined): boolean {
    if (host === undefined) return false
    if (host === lastAcceptedHost) return true
    const name = hostName(host)
    if (name === undefined || !hosts.has(name.toLowerCase())) return false
    lastAcceptedHost = host
    return true
  }

  /** Host, browser origin and access key: who is calling. True when the request was answered. */
  function checkCaller (request: FastifyRequest, reply: FastifyReply): boolean {
    const headers = request.headers
    if (repeatedHost(request.raw.rawHeaders)) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    if (hostCheck && !acceptedHost(headers.host)) {
      sendProxyError(reply, 'PROXY_FORBIDDEN_HOST')
      return true
    }
    const origin = headers.origin
    if (origin !== undefined) {
      // `Origin: null` (sandboxed frames, file: pages, some redirects) is never in the set.
      if (!origins.has(origin)) {
        sendProxyError(reply, 'PROXY_FORBIDDEN_ORIGIN')
        return true
      }
      const requestedMethod = headers['access-control-request-method']
      if (request.method === 'OPTIONS' && requestedMethod !== undefined) {
        // A preflight carries no credentials, so it is answered here, before the access key is asked for.
        answerPreflight(request, reply, origin, requestedMethod, methods, allowHeader)
        return true
      }
    } else {
      // Without Origin, a browser still says where a request came from: a cross-site <img> or form GET.
      const site = headers['sec-fetch-site']
      if (site === 'cross-site' || site === 'same-site') {
        sendProxyError(reply, 'PROXY_FORBIDDEN_ORIGIN')
        return true
      }
    }
    if (keyCheck && !accessKeys.accepts(headers['x-proxy-key'])) {
      sendProxyError(reply, 'PROXY_ACCESS_DENIED')
      return true
    }
    return false
  }

  return checkCaller
}
