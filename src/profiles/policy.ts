// A profile's method and path policy: the environment's lists apply to every profile, the profile's own narrow them (deny wins).
import type { Config } from '../config.js'
import { compilePathPatterns } from '../proxy/target-checks.js'

/** The lists as Config holds the environment's: methods upper case, patterns in their normal form. */
export type PolicyLists = Pick<Config, 'allowMethods' | 'allowPaths' | 'denyPaths'>

/** Compiled once per profile, so a request costs one Set lookup and a RegExp test per list. */
export interface ProfilePolicy {
  /** Methods forwarded: the environment's and the profile's both allow them; undefined: every method. */
  readonly methods: ReadonlySet<string> | undefined
  /** The `Allow` header of a 405; undefined when every method is forwarded. */
  readonly allowHeader: string | undefined
  /** A path is forwarded only when every one of these matches it (the environment's, then the profile's). */
  readonly allowPaths: readonly RegExp[]
  /** A path matching this is never forwarded (the environment's and the profile's deny lists together). */
  readonly denyPaths: RegExp | undefined
}

export type PolicyVerdict = 'allowed' | 'method' | 'path'

function narrowMethods (environment: readonly string[] | undefined, own: readonly string[] | undefined): readonly string[] | undefined {
  if (environment === undefined) return own
  if (own === undefined) return environment
  return own.filter((method) => environment.includes(method))
}

/** The profile's effective policy over the environment's lists. */
export function compilePolicy (environment: PolicyLists, own: PolicyLists): ProfilePolicy {
  const methods = narrowMethods(environment.allowMethods, own.allowMethods)
  const allowPaths = [compilePathPatterns(environment.allowPaths), compilePathPatterns(own.allowPaths)]
    .filter((pattern) => pattern !== undefined)
  return Object.freeze({
    methods: methods === undefined ? undefined : new Set(methods),
    allowHeader: methods?.join(', '),
    allowPaths: Object.freeze(allowPaths),
    denyPaths: compilePathPatterns([...environment.denyPaths, ...own.denyPaths])
  })
}

/** Whether a request may go on: `normalPath` is the path in the form the policies compare (normalisePath). */
export function verdict (policy: ProfilePolicy, method: string, normalPath: string): PolicyVerdict {
  if (policy.methods !== undefined && !policy.methods.has(method)) return 'method'
  if (policy.denyPaths?.test(normalPath) === true) return 'path'
  for (const allow of policy.allowPaths) if (!allow.test(normalPath)) return 'path'
  return 'allowed'
}
