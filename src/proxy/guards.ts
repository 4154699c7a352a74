// The one onRequest hook that runs every check before forwarding, cheapest first; the CORS and body-limit hooks.
// What a listener refuses before any request exists (CONNECT, what the parser rejects) is src/listener.ts's.
import type { FastifyReply, FastifyRequest, onSendHookHandler, preParsingHookHandler } from 'fastify'
import type { Config } from '../config.js'
import { sendProxyError } from '../errors.js'
import { bodyLimitHook } from './body-limit.js'
import { AccessKeys } from './access-keys.js'
import { createCallerCheck } from './caller-checks.js'
import type { RequestCheck } from './caller-checks.js'
import { corsHeadersHook } from './cors.js'
import { createTargetCheck } from './target-checks.js'
import type { PolicyCheck } from './target-checks.js'
import type { SelectProfile } from '../profiles/select.js'
import { isOwnTarget, pathOf, PROBE_PATHS } from './target.js'

export interface Guards {
  /**
   * Answers the request itself when it must not go on (draining, an error, or a CORS preflight) and
   * returns true; returns false to let it through. Own probe routes (`/-/healthz`, `/-/readyz`,
   * `/-/metrics`) pass the caller checks untouched: they hold no secret, and probes address the pod by IP.
   */
  refused: (request: FastifyRequest, reply: FastifyReply) => boolean
  /** Counts chunked request bodies against PROXY_MAX_BODY_BYTES; undefined without a limit. */
  limitBody: preParsingHookHandler | undefined
  /** Sets the CORS response headers; undefined without PROXY_CORS_ORIGINS. */
  corsHeaders: onSendHookHandler | undefined
}

const SLASH = 0x2f

/** What the guards read of the app's state: past the shutdown delay, every request is refused. */
export interface GuardState {
  readonly closing: boolean
}

/** With PROXY_PROFILES_FILE: the caller's profile from its `x-proxy-key`, and the profiles' policy check. */
export interface ProfileGuard {
  /** Read at each request, so that a reloaded description applies to the next one. */
  readonly select: () => SelectProfile
  readonly verdict: PolicyCheck
}

/**
 * `accessKeys`: the keys callers may present, replaceable at run time (default: the configured ones,
 * fixed). `profiles`: the caller's profile is chosen after the caller checks (PROXY_ACCESS_KEY is
 * never set beside it), and its policy replaces the environment's, which it holds.
 */
export function createGuards (config: Config, state: GuardState, accessKeys = new AccessKeys(config.accessKeys), profiles?: ProfileGuard): Guards {
  const checkCaller = profiles === undefined ? createCallerCheck(config, accessKeys) : profiledCallerCheck(createCallerCheck(config, accessKeys), profiles.select)
  const checkRequest = createTargetCheck(config, profiles?.verdict)

  function refused (request: FastifyRequest, reply: FastifyReply): boolean {
    if (state.closing) {
      reply.header('connection', 'close')
      sendProxyError(reply, 'PROXY_DRAINING', { 'retry-after': '1' })
      return true
    }
    const url = request.url
    // Only origin-form targets ("/path?query") are forwarded: absolute-form, authority-form and "*" are not.
    if (url.charCodeAt(0) !== SLASH) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    // Node reads a request line without a version as HTTP/0.9 and the next line as a header, so a
    // CR/LF in the target would smuggle a header in: only HTTP/1.x is served.
    if (request.raw.httpVersionMajor !== 1) {
      sendProxyError(reply, 'PROXY_BAD_REQUEST')
      return true
    }
    if (isOwnTarget(url)) {
      if (PROBE_PATHS.includes(pathOf(url))) return false
      // `/-/status` and whatever else is under /-/: the caller checks apply, the forwarding policy does not.
      return checkCaller(request, reply)
    }
    return checkCaller(request, reply) || checkRequest(request, reply)
  }

  return { refused, limitBody: bodyLimitHook(config.maxBodyBytes), corsHeaders: corsHeadersHook(new Set(config.corsOrigins)) }
}

/** The caller checks, then the caller's profile: none (an unknown key, an empty header, no key and no keyless profile) is 401. */
function profiledCallerCheck (checkCaller: RequestCheck, select: () => SelectProfile): RequestCheck {
  return function checkProfiledCaller (request, reply) {
    if (checkCaller(request, reply)) return true
    const profile = select()(request.headers['x-proxy-key'])
    if (profile === undefined) {
      sendProxyError(reply, 'PROXY_ACCESS_DENIED')
      return true
    }
    request.proxyProfile = profile
    return false
  }
}
