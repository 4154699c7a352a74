// What the mock may have received from the proxy, judged independently of the guards' code: every target clean, no login but the proxy's own, no hop-by-hop header.
import { LOGIN_PATH } from '../../src/mock/roecny.js'
import type { MockRoecny } from '../../src/mock/roecny.js'
import { SMUGGLED_MARK } from './fuzz-requests.js'
import { Violation } from './fuzz.js'

/** The fuzz stack's PROXY_DENY_PATHS, as a prefix of the normalised path. */
const DENIED_PREFIX = '/api/v1/forbidden'
/** Never forwarded whatever the client sends (hop-by-hop, or the proxy's own credentials). */
const NEVER_FORWARDED = ['upgrade', 'keep-alive', 'proxy-connection', 'proxy-authorization', 'trailer', 'x-proxy-key', 'x-api-key', 'x-client-id']

/** Why the guards should have refused `method target`, or undefined when it may be forwarded. */
export function refusalReason (method: string, target: string): string | undefined {
  if (method === 'CONNECT' || method === 'TRACE') return `${method} is never forwarded`
  if (!target.startsWith('/') || target.startsWith('//')) return 'not an origin-form target'
  if (/[^\x21-\x7e]|[#\\]/.test(target)) return 'a raw byte, # or \\ in the target'
  if (target.includes(SMUGGLED_MARK)) return 'a request smuggled past the framing of another'
  const query = target.indexOf('?')
  let path: string
  try {
    path = decodeURIComponent(query === -1 ? target : target.slice(0, query))
  } catch {
    return 'a malformed escape'
  }
  if (/[\x00-\x1f\x7f\\]/.test(path)) return 'a control character or \\ after decoding' // eslint-disable-line no-control-regex -- finding them is the point
  if (path.startsWith('//') || path.split('/').some((segment) => segment === '.' || segment === '..')) return 'a dot segment or // after decoding'
  const normal = path.replace(/;[^/]*/g, '').replace(/\/{2,}/g, '/').replace(/(.)\/$/, '$1').toLowerCase()
  if (normal === DENIED_PREFIX || normal.startsWith(`${DENIED_PREFIX}/`)) return 'a denied path'
  if (method === 'POST' && normal === LOGIN_PATH && target !== LOGIN_PATH) return 'a login spelled otherwise'
  return undefined
}

/** Checks what reached the mock since the last check (`check`) or all of it (`checkAll`). */
export function mockOracle (mock: MockRoecny): { check: (what: string) => void, checkAll: () => void } {
  let seen = 0

  function judge (from: number, what: string): void {
    for (const { method, url } of mock.targets.slice(from)) {
      // The proxy's own logins are recorded too; a login through the proxy would carry a Bearer token (checked below).
      if (method === 'POST' && url === LOGIN_PATH) continue
      const reason = refusalReason(method, url)
      if (reason !== undefined) throw new Violation(`${what}: ${method} ${JSON.stringify(url)} reached the mock: ${reason}`)
    }
  }

  return {
    check (what) {
      judge(seen, what)
      seen = mock.targets.length
    },
    checkAll () {
      judge(0, 'over the whole run')
      for (const login of mock.logins) {
        if (login.headers['x-client-id'] !== 'demo-client' || login.headers.authorization !== undefined) {
          throw new Violation(`a login reached the mock that the proxy did not make: ${JSON.stringify(login.url)}`)
        }
      }
      for (const forwarded of mock.requests) {
        const leaked = NEVER_FORWARDED.filter((name) => forwarded.headers[name] !== undefined)
        const te = forwarded.headers.te
        if (te !== undefined && te !== 'trailers') leaked.push('te')
        if (leaked.length > 0) throw new Violation(`${forwarded.method} ${forwarded.url} reached the mock with ${leaked.join(', ')}`)
      }
    }
  }
}

/** Every request the mock received (of the last 1,000) carried a token it issued, and only that. */
export function issuedBearer (mock: MockRoecny): boolean {
  const issued = new Set(mock.issuedTokens.map((token) => `Bearer ${token}`))
  return mock.requests.every((forwarded) => issued.has(String(forwarded.headers.authorization)))
}
