#!/usr/bin/env node
// The container's HEALTHCHECK: GET /-/healthz on the admin listener, else on the proxy's own; exit 0 on 200.
// A separate small script, not a CLI command: a probe every few seconds should not load the whole proxy.
import { request } from './node-http.js'
import type { RequestOptions } from 'node:http'
import { realpathSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { defaultOf } from './config/variables.js'

type Env = Record<string, string | undefined>

export const HEALTH_PATH = '/-/healthz'

function blank (value: string | undefined): boolean {
  return value === undefined || value.trim() === ''
}

/** The address to probe: the listener's (its default when unset), a wildcard one as loopback, which is where the probe runs. */
function reachable (host: string | undefined, fallback: string): string {
  const value = blank(host) ? fallback : (host as string).trim()
  if (value === '0.0.0.0') return '127.0.0.1'
  if (value === '::') return '::1'
  return value
}

/**
 * Where the probe goes, from the same variables the proxy reads: the admin listener when
 * ADMIN_PORT is set, else the Unix socket when PROXY_SOCKET is set, else PROXY_HOST:PROXY_PORT.
 */
export function healthTarget (env: Env): RequestOptions {
  if (!blank(env.ADMIN_PORT)) {
    return { host: reachable(env.ADMIN_HOST, defaultOf('ADMIN_HOST') as string), port: Number(env.ADMIN_PORT), path: HEALTH_PATH }
  }
  if (!blank(env.PROXY_SOCKET)) return { socketPath: (env.PROXY_SOCKET as string).trim(), path: HEALTH_PATH }
  const port = blank(env.PROXY_PORT) ? defaultOf('PROXY_PORT') : env.PROXY_PORT
  return { host: reachable(env.PROXY_HOST, defaultOf('PROXY_HOST') as string), port: Number(port), path: HEALTH_PATH }
}

/** Resolves true when the answer is 200 within `timeoutMs`; never rejects. */
export function probe (target: RequestOptions, timeoutMs: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = request({ ...target, method: 'GET', timeout: timeoutMs }, (res) => {
      res.resume()
      resolve(res.statusCode === 200)
    })
    req.on('timeout', () => req.destroy(new Error('timed out')))
    req.on('error', () => resolve(false))
    req.end()
  })
}

function isEntryPoint (): boolean {
  const script = process.argv[1]
  /* c8 ignore next -- argv[1] is missing only under `node -e` or a REPL, never in a run of this file */
  if (script === undefined) return false
  return realpathSync(script) === realpathSync(fileURLToPath(import.meta.url))
}

if (isEntryPoint()) {
  process.exitCode = await probe(healthTarget(process.env), 3000) ? 0 : 1
}
