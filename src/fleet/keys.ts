// The names of the fleet's Redis keys: a prefix and a hash of what makes a fleet, never a credential in clear.
import { createHash } from 'node:crypto'
import type { Config } from '../config.js'

/** What makes two sidecars one fleet (with the same Redis): SPEC §12. */
export type FleetIdentity = Pick<Config, 'baseUrl' | 'clientId' | 'scope' | 'loginAs'>

export interface FleetKeys {
  /** The hash naming this fleet: shows in key names, binds the sealed token to them. */
  readonly id: string
  /** The sealed token; expires when the token stops being handed out. */
  readonly token: string
  /** Held by the one replica logging in for the fleet. */
  readonly lock: string
  /** Pub/sub channel: "a new token is stored" (a hint: pub/sub may lose it). */
  readonly channel: string
  /** The budget's leases (sorted set, score: when the lease lapses). */
  readonly leases: string
  /** The budget's token bucket (hash: tokens, refilled at). */
  readonly bucket: string
  /** Roecny's 429 pause, for the whole fleet (expires with it). */
  readonly pause: string
}

/** The fleet's key names under `prefix`. */
export function fleetKeys (prefix: string, identity: FleetIdentity): FleetKeys {
  // Fields joined by NUL, which no header value or URL holds, so two identities never join to one string.
  const fields = [identity.baseUrl, identity.clientId, identity.scope ?? '', identity.loginAs ?? '']
  const id = createHash('sha256').update(`roecny-auth-proxy fleet\u0000${fields.join('\u0000')}`).digest('hex').slice(0, 32)
  const base = `${prefix}:${id}`
  return Object.freeze({
    id,
    token: `${base}:token`,
    lock: `${base}:login-lock`,
    channel: `${base}:token-stored`,
    leases: `${base}:leases`,
    bucket: `${base}:bucket`,
    pause: `${base}:pause`
  })
}
