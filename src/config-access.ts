// Parsers for the variables that say who may call the proxy and what it forwards: hosts, origins, methods, paths, socket mode.
import { METHODS } from './node-http.js'
import { isIP } from 'node:net'

const HOST_NAME = /^(?=.{1,253}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/

/** An IP address or a DNS host name (no port, no brackets). */
export function validHost (value: string): boolean {
  return isIP(value) !== 0 || HOST_NAME.test(value)
}

/** `localhost`, 127.0.0.0/8 or ::1 (also IPv4-mapped): reachable from this machine only. */
export function isLoopbackHost (host: string): boolean {
  const value = host.toLowerCase()
  if (value === 'localhost' || value === '::1') return true
  const v4 = value.startsWith('::ffff:') ? value.slice(7) : value
  return isIP(v4) === 4 && v4.startsWith('127.')
}

/** A comma list, items trimmed, empty items dropped. */
function items (raw: string): string[] {
  return raw.split(',').map((item) => item.trim()).filter((item) => item !== '')
}

const SOCKET_MODE = /^(?:0o?)?([0-7]{3})$/i
const SOCKET_MODE_PROBLEM = 'PROXY_SOCKET_MODE must be an octal file mode such as 0660'

export function parseSocketMode (raw: string, problems: string[]): number | undefined {
  const digits = SOCKET_MODE.exec(raw)?.[1]
  if (digits === undefined) {
    problems.push(SOCKET_MODE_PROBLEM)
    return undefined
  }
  return parseInt(digits, 8)
}

const ALLOWED_HOSTS_PROBLEM = 'PROXY_ALLOWED_HOSTS must be * or a comma list of host names and IP addresses, without ports'

/** Lower-case names; IPv6 addresses without brackets. `*` stays as the one item that turns the check off. */
export function parseAllowedHosts (raw: string | undefined, problems: string[]): readonly string[] {
  if (raw === undefined) return Object.freeze([])
  const hosts: string[] = []
  for (const item of items(raw)) {
    const host = item.toLowerCase().replace(/^\[(.*)\]$/, '$1')
    if (host !== '*' && !validHost(host)) {
      problems.push(ALLOWED_HOSTS_PROBLEM)
      return Object.freeze([])
    }
    if (!hosts.includes(host)) hosts.push(host)
  }
  if (hosts.length === 0) problems.push(ALLOWED_HOSTS_PROBLEM)
  return Object.freeze(hosts.includes('*') ? ['*'] : hosts)
}

const CORS_PROBLEM = 'PROXY_CORS_ORIGINS must be a comma list of origins such as https://app.example (scheme://host[:port], no path; * and null are not accepted)'

/**
 * Serialised as browsers send them in `Origin` (lower case, default port dropped), so a request's
 * header is compared as a plain string. `*` is refused: every web page could then spend the token.
 */
export function parseCorsOrigins (raw: string | undefined, problems: string[]): readonly string[] {
  if (raw === undefined) return Object.freeze([])
  const origins: string[] = []
  for (const item of items(raw)) {
    let url: URL | undefined
    try {
      url = new URL(item)
    } catch {
      url = undefined
    }
    const plain = url !== undefined && (url.protocol === 'http:' || url.protocol === 'https:') &&
      /^https?:\/\/[^/@?#]+\/?$/i.test(item)
    if (!plain) {
      problems.push(CORS_PROBLEM)
      return Object.freeze([])
    }
    const origin = (url as URL).origin
    if (!origins.includes(origin)) origins.push(origin)
  }
  if (origins.length === 0) problems.push(CORS_PROBLEM)
  return Object.freeze(origins)
}

const METHODS_PROBLEM = 'PROXY_ALLOW_METHODS must be a comma list of HTTP methods such as GET,HEAD'

/** Upper case, from the methods Node parses; undefined (every method) when unset. */
export function parseMethods (raw: string | undefined, problems: string[]): readonly string[] | undefined {
  if (raw === undefined) return undefined
  const methods: string[] = []
  for (const item of items(raw)) {
    const method = item.toUpperCase()
    if (!METHODS.includes(method)) {
      problems.push(METHODS_PROBLEM)
      return undefined
    }
    if (!methods.includes(method)) methods.push(method)
  }
  if (methods.length === 0) problems.push(METHODS_PROBLEM)
  return Object.freeze(methods)
}

/** Visible ASCII after the leading slash, and none of the characters that would mean something else in a path. */
const PATTERN_TEXT = /^\/[\x21-\x7e]*$/
const PATTERN_FORBIDDEN = /[?#%\\]/

/**
 * Path patterns as an operator writes them: `/api/v1/balances/**`, `/api/v1/payments/*`. They are matched
 * against the decoded path, so they are written decoded; repeated and trailing slashes are dropped, as
 * they are from the path they are matched against. `**` stands only for whole segments.
 */
export function parsePathPatterns (name: string, raw: string | undefined, problems: string[]): readonly string[] | undefined {
  if (raw === undefined) return undefined
  const problem = `${name} must be a comma list of paths starting with / (* matches within one segment, ** any number of segments)`
  const patterns: string[] = []
  for (const item of items(raw)) {
    const segments = item.split('/').slice(1).filter((segment) => segment !== '')
    const bad = !PATTERN_TEXT.test(item) || PATTERN_FORBIDDEN.test(item) ||
      segments.some((segment) => segment === '.' || segment === '..' || (segment.includes('**') && segment !== '**'))
    if (bad) {
      problems.push(problem)
      return undefined
    }
    const pattern = `/${segments.join('/')}`
    if (!patterns.includes(pattern)) patterns.push(pattern)
  }
  if (patterns.length === 0) problems.push(problem)
  return Object.freeze(patterns)
}
