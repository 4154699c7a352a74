// Fleet mode's settings (SPEC §12): REDIS_URL or REDIS_URL_FILE, REDIS_CA_FILE, REDIS_KEY_PREFIX, and the rules between them.
import { parseRedisUrl, readCaFile, secret } from './secret-files.js'
import type { ProxyEnv } from './variables.js'

export interface FleetSettings {
  /** redis:// or rediss://; undefined: fleet mode is off and nothing of it is loaded. May hold a password: never logged. */
  readonly redisUrl: string | undefined
  /** PEM certificates from REDIS_CA_FILE, trusted for a rediss:// Redis besides the built-in roots. */
  readonly redisCa: string | undefined
  readonly redisKeyPrefix: string
}

/** The fleet settings, or the problems and warnings they raise. `parsed` is undefined when the table step failed elsewhere. */
export function fleetSettings (data: Record<string, string>, parsed: ProxyEnv | undefined, problems: string[], warnings: string[]): FleetSettings {
  const before = problems.length
  const raw = secret('REDIS_URL', data, problems, warnings, false)
  const source = data.REDIS_URL === undefined ? 'REDIS_URL_FILE' : 'REDIS_URL'
  let redisUrl: string | undefined
  if (raw !== undefined && problems.length === before) {
    const url = parseRedisUrl(source, raw)
    if (url.ok) redisUrl = url.value
    else problems.push(url.problem)
  }
  const redisCa = readCaFile(data.REDIS_CA_FILE, problems, 'REDIS_CA_FILE')
  // Settings that do nothing are a deployment mistake worth a line, not a refusal to start.
  const fleetOff = data.REDIS_URL === undefined && data.REDIS_URL_FILE === undefined
  if (fleetOff && data.REDIS_CA_FILE !== undefined) problems.push('REDIS_CA_FILE is set but neither REDIS_URL nor REDIS_URL_FILE is; set REDIS_URL for fleet mode')
  if (fleetOff && data.REDIS_KEY_PREFIX !== undefined) warnings.push('REDIS_KEY_PREFIX is not used: neither REDIS_URL nor REDIS_URL_FILE is set')
  return { redisUrl, redisCa, redisKeyPrefix: parsed?.REDIS_KEY_PREFIX ?? 'roecny-auth-proxy' }
}
