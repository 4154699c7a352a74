// What is asked for: a clean origin-form target, an allowed method and path, a body coding and size the proxy can pass on, never the login.
import type { FastifyReply, FastifyRequest } from 'fastify'
import type { Config } from '../config.js'
import { sendProxyError } from '../errors.js'
import { declaredTooLarge } from './body-limit.js'
import type { RequestCheck } from './caller-checks.js'
import type { Profile } from '../profiles/file.js'
import type { PolicyVerdict, ProfilePolicy } from '../profiles/policy.js'
import { decodePath, HAS_PERCENT, isLoginPath, normalisePath, pathOf, scanTarget, TARGET_BAD } from './target.js'

const CLOSE = { connection: 'close' }

function escapeRegExp (text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')
}

/** `**` any number of whole segments; `*` alone one segment; `*` inside a segment any characters but `/`. */
function patternSource (pattern: string): string {
  if (pattern === '/') return '/'
  const segments = pattern.slice(1).split('/')
  let source = ''
  for (const [index, segment] of segments.entries()) {
    if (segment === '**') source += index === segments.length - 1 ? '(?:/.*)?' : '(?:/[^/]+)*'
    else if (segment === '*') source += '/[^/]+'
    else source += `/${segment.split('*').map(escapeRegExp).join('[^/]*')}`
  }
  return source
}

/** One RegExp for a whole list; case-insensitive, because a deny rule must hold whatever case the upstream ignores. */
export function compilePathPatterns (patterns: readonly string[] | undefined): RegExp | undefined {
  if (patterns === undefined || patterns.length === 0) return undefined
  return new RegExp(`^(?:${patterns.map(patternSource).join('|')})$`, 'i')
}

/** The target's path, percent-decoded when it has escapes; undefined when it is no clean origin form or does not decode. */
function cleanPath (url: string): string | undefined {
  const path = pathOf(url)
  const flags = scanTarget(url, path.length)
  if (flags === TARGET_BAD) return undefined
  return (flags & HAS_PERCENT) !== 0 ? decodePath(path) : path
}

/** The profiles' policy check (src/profiles/policy.ts), handed in so that nothing of profiles loads without them. */
export type PolicyCheck = (policy: ProfilePolicy, method: string, normalPath: string) => PolicyVerdict

/**
 * Request target, method and path policy, transfer coding, declared body size, login path. With
 * `verdict` (PROXY_PROFILES_FILE), the method and path policy is the request's profile's, which
 * holds the environment's lists too; the choice is made here, once.
 */
export function createTargetCheck (config: Config, verdict?: PolicyCheck): RequestCheck {
  const methods = config.allowMethods === undefined ? undefined : new Set(config.allowMethods)
  const allowHeader = config.allowMethods?.join(', ')
  const allowPaths = compilePathPatterns(config.allowPaths)
  const denyPaths = compilePathPatterns(config.denyPaths)
  const pathPolicy = allowPaths !== undefined || denyPaths !== undefined
  const maxBody = config.maxBodyBytes

  /** Request target, method, path policy, body size, login path: what is asked for. True when the request was answered. */
  function checkRequest (request: FastifyRequest, reply: FastifyReply): boolean {
    const path = cleanPath(request.url)
    if (path === undefined) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    if (methods !== undefined && !methods.has(request.method)) {
      sendProxyError(reply, 'PROXY_METHOD_NOT_ALLOWED', { allow: allowHeader as string })
      return true
    }
    // Only a POST can be a login, and only a path policy needs the normal form otherwise.
    const post = request.method === 'POST'
    const normal = pathPolicy || post ? normalisePath(path) : ''
    if (pathPolicy && (denyPaths?.test(normal) === true || allowPaths?.test(normal) === false)) {
      sendProxyError(reply, 'PROXY_PATH_NOT_ALLOWED')
      return true
    }
    return checkBodyAndLogin(request, reply, post, normal)
  }

  /** Transfer coding, declared body size, login path: the checks after the policy. */
  function checkBodyAndLogin (request: FastifyRequest, reply: FastifyReply, post: boolean, normal: string): boolean {
    const coding = request.headers['transfer-encoding']
    // Node decodes chunked alone and passes a body sent with other codings ("gzip, chunked") on still
    // coded: forwarded without the header that says so, it would reach Roecny as other content.
    if (coding !== undefined && coding.toLowerCase() !== 'chunked') {
      sendProxyError(reply, 'PROXY_BAD_REQUEST', CLOSE)
      return true
    }
    // Refused before a byte is read; the connection closes, so the rest of the body is never read either.
    if (maxBody !== undefined && declaredTooLarge(request, maxBody)) {
      sendProxyError(reply, 'PROXY_BODY_TOO_LARGE', CLOSE)
      return true
    }
    // The proxy holds the only credentials: a client never logs in through it, in any spelling of the path.
    if (post && isLoginPath(normal)) {
      sendProxyError(reply, 'PROXY_LOGIN_BLOCKED')
      return true
    }
    return false
  }

  /** As checkRequest, under the policy of the profile the guard chose (set before this runs). */
  function checkProfiledRequest (request: FastifyRequest, reply: FastifyReply): boolean {
    const path = cleanPath(request.url)
    if (path === undefined) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    const policy = (request.proxyProfile as Profile).policy
    const normal = normalisePath(path)
    const outcome = (verdict as PolicyCheck)(policy, request.method, normal)
    if (outcome === 'method') {
      sendProxyError(reply, 'PROXY_METHOD_NOT_ALLOWED', { allow: policy.allowHeader as string })
      return true
    }
    if (outcome === 'path') {
      sendProxyError(reply, 'PROXY_PATH_NOT_ALLOWED')
      return true
    }
    return checkBodyAndLogin(request, reply, request.method === 'POST', normal)
  }

  return verdict === undefined ? checkRequest : checkProfiledRequest
}
