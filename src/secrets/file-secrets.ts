// The file secrets a running proxy re-reads, and what a change of each one does (SPEC §10).
import type { Logger } from 'pino'
import type { Clock } from '../clock.js'
import type { Config } from '../config.js'
import type { ProxyMetrics } from '../metrics.js'
import type { AccessKeys } from '../proxy/access-keys.js'
import { MAX_CA_FILE_BYTES, MAX_SECRET_FILE_BYTES, parseAccessKeys, parseCaBundle, parseCredential, parseRedisUrl } from '../config/secret-files.js'
import type { FileSecretName, Parsed } from '../config/secret-files.js'
import { createSecretWatcher } from './watch.js'
import type { ApplyOutcome, SecretWatcher, WatchedFile } from './watch.js'

/** What the secrets change at run time. */
export interface SecretTargets {
  /** The token lifecycle: new credentials start a login with them. */
  readonly tokens: { setCredentials: (credentials: { clientId?: string, apiKey?: string }) => boolean }
  readonly accessKeys: AccessKeys
  /** The upstream pool: a new CA bundle applies to new connections. Needed only with ROECNY_CA_FILE. */
  readonly upstream: UpstreamTarget | undefined
  /** Fleet mode's connection: a new URL or CA bundle connects anew. Needed only with REDIS_URL_FILE or REDIS_CA_FILE. */
  readonly fleet?: FleetTarget | undefined
}

interface FleetTarget {
  /** False when the value is the one in use. */
  replaceUrl: (url: string) => boolean
  replaceCa: (ca: string) => boolean
}

interface UpstreamTarget {
  /** False when the bundle is the one in use. */
  replaceCa: (ca: string) => boolean
}

function outcome<T> (parsed: Parsed<T>, use: (value: T) => boolean): ApplyOutcome {
  if (!parsed.ok) return { problem: parsed.problem }
  return use(parsed.value) ? 'applied' : 'unchanged'
}

function sameKeys (a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((key) => b.includes(key))
}

/**
 * One WatchedFile for each *_FILE secret in use; a secret set in the environment is not among them,
 * so it never changes at run time.
 */
export function watchedSecrets (config: Pick<Config, 'secretFiles' | 'accessKeys'>, targets: SecretTargets): WatchedFile[] {
  let accessKeys = config.accessKeys
  const appliers: Record<FileSecretName, { maxBytes: number, apply: (name: string, text: string) => ApplyOutcome }> = {
    ROECNY_CLIENT_ID_FILE: {
      maxBytes: MAX_SECRET_FILE_BYTES,
      apply: (name, text) => outcome(parseCredential(name, text), (clientId) => targets.tokens.setCredentials({ clientId }))
    },
    ROECNY_API_KEY_FILE: {
      maxBytes: MAX_SECRET_FILE_BYTES,
      apply: (name, text) => outcome(parseCredential(name, text), (apiKey) => targets.tokens.setCredentials({ apiKey }))
    },
    PROXY_ACCESS_KEY_FILE: {
      maxBytes: MAX_SECRET_FILE_BYTES,
      apply: (name, text) => outcome(parseAccessKeys(name, text), function replaceKeys (keys) {
        if (sameKeys(keys, accessKeys)) return false
        accessKeys = keys
        targets.accessKeys.replace(keys)
        return true
      })
    },
    ROECNY_CA_FILE: {
      maxBytes: MAX_CA_FILE_BYTES,
      // With ROECNY_CA_FILE in use the proxy always builds its pool to rotate.
      apply: (name, text) => outcome(parseCaBundle(name, text), (ca) => (targets.upstream as UpstreamTarget).replaceCa(ca))
    },
    // The configuration accepts either only in fleet mode, where the proxy always has the connection to rotate.
    REDIS_URL_FILE: {
      maxBytes: MAX_SECRET_FILE_BYTES,
      apply: (name, text) => outcome(parseRedisUrl(name, text), (url) => (targets.fleet as FleetTarget).replaceUrl(url))
    },
    REDIS_CA_FILE: {
      maxBytes: MAX_CA_FILE_BYTES,
      apply: (name, text) => outcome(parseCaBundle(name, text), (ca) => (targets.fleet as FleetTarget).replaceCa(ca))
    }
  }
  const files: WatchedFile[] = []
  for (const [name, path] of Object.entries(config.secretFiles) as Array<[FileSecretName, string]>) {
    const { maxBytes, apply } = appliers[name]
    files.push({ name, path, maxBytes, apply: (text) => apply(name, text) })
  }
  return files
}

export interface FileSecretsDeps {
  readonly clock: Clock
  readonly log: Logger
  readonly metrics: Pick<ProxyMetrics, 'watchSecrets' | 'secretReload'>
}

/** A watcher over the *_FILE secrets in use, not yet started; undefined when every secret came from the environment. */
export function watchFileSecrets (config: Pick<Config, 'secretFiles' | 'accessKeys' | 'secretsPollMs'>, targets: SecretTargets, deps: FileSecretsDeps): SecretWatcher | undefined {
  const files = watchedSecrets(config, targets)
  if (files.length === 0) return undefined
  deps.metrics.watchSecrets(files.map((file) => file.name))
  return createSecretWatcher({ files, pollMs: config.secretsPollMs, clock: deps.clock, log: deps.log, onReload: deps.metrics.secretReload })
}
