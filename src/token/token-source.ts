// What the request path needs from the token lifecycle; the TokenManager provides it.

export interface TokenSource {
  /** The usable token now, or undefined. Called on every request: must stay cheap. */
  current: () => string | undefined
  /** The usable token, after waiting for a login already in flight (bounded); undefined if none. */
  acquire: () => Promise<string | undefined>
  /** An upstream 401 answered a request that carried `token`. */
  invalidate: (token: string) => void
  /** Seconds a client should wait before retrying when no token is available. */
  retryAfterSeconds: () => number
  isReady: () => boolean
  /** JSON-able state for /-/status; never a secret. */
  status: () => object
}
