// The parts of undici the proxy uses, without undici's entry point: that one loads all of undici (fetch,
// WebSocket, caches, mocks), and through its cookie helpers Node's own bundled copy of undici as well.
// @fastify/reply-from, which requires 'undici' for its `instanceof` checks, is given the same subset.
import module from 'node:module'
import type * as Undici from 'undici'
import subset from './undici-subset.cjs'

export const { Dispatcher, Client, Pool, BalancedPool } = subset
// eslint-disable-next-line @typescript-eslint/no-redeclare -- the class and its instance type under one name, as undici exports them
export type Pool = Undici.Pool

/** The subset's module, where reply-from's require('undici') is sent (resolved by the loader: .cts under a TypeScript loader). */
export const UNDICI_SUBSET_URL = import.meta.resolve('./undici-subset.cjs')

/** True when `specifier`, required from `parentURL`, is reply-from's undici. */
export function isReplyFromUndici (specifier: string, parentURL: string | undefined): boolean {
  return specifier === 'undici' && parentURL !== undefined && parentURL.includes('/node_modules/@fastify/reply-from/')
}

interface ResolveContext { parentURL?: string | undefined }
interface Resolved { url: string, format?: string | null | undefined, shortCircuit?: boolean }
type RegisterHooks = (hooks: { resolve: (specifier: string, context: ResolveContext, next: (specifier: string, context: ResolveContext) => Resolved) => Resolved }) => unknown

// Node 22.15 and later resolve through synchronous hooks; on older ones reply-from loads undici's entry point.
const { registerHooks } = module as { registerHooks?: RegisterHooks }
/* c8 ignore next 8 -- Node 20 has no module.registerHooks; the suite runs on Node 24 and on Node 20, each covering one side */
if (registerHooks !== undefined) {
  registerHooks({
    resolve (specifier, context, next) {
      if (isReplyFromUndici(specifier, context.parentURL)) return { url: UNDICI_SUBSET_URL, format: 'commonjs', shortCircuit: true }
      return next(specifier, context)
    }
  })
}
