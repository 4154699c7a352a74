// The names of the fleet's Redis keys: a prefix and a hash of what makes a fleet, never a credential in clear.
import { createHash, createHmac } from 'node:crypto'
import type { Config } from '../config.js'

/** What makes two sidecars one fleet for their token (with the same Redis): SPEC §12. */
export type TokenIdentity = Pick<Config, 'baseUrl' | 'clientId' | 'apiKey' | 'scope' | 'loginAs'>

/** Whose budget it is: Roecny limits each account, named by its base URL and client ID (SPEC §12, §13). */
export type AccountIdentity = Pick<Config, 'baseUrl' | 'clientId'>

export interface TokenKeys {
  /** The hash naming this token's fleet: shows in key names, binds the sealed token to them. */
  readonly id: string
  /** The sealed token; expires when the token stops being handed out. */
  readonly token: string
  /** Held by the one replica logging in for the fleet. */
  readonly lock: string
  /** Pub/sub channel: "a new token is stored" (a hint: pub/sub may lose it). */
  readonly channel: string
}

export interface BudgetKeys {
  /** The hash naming the account. */
  readonly id: string
  /** The budget's leases (sorted set, member: a lease's id, score: when it lapses). */
  readonly leases: string
  /** The budget's token bucket (hash: tokens, refilled at). */
  readonly bucket: string
  /** Roecny's 429 pause, for the whole account (expires with it). */
  readonly pause: string
}

/** A hex hash of `fields` under `purpose`; fields joined by NUL, which no header value or URL holds, so two lists never join to one string. */
function hashOf (purpose: string, fields: readonly string[]): string {
  return createHash('sha256').update(`roecny-auth-proxy ${purpose}\u0000${fields.join('\u0000')}`).digest('hex').slice(0, 32)
}

/**
 * What of the API key enters a key name: an HMAC keyed by it. Without the API key nobody can tell which
 * key a name stands for, not even by trying guesses against the name, as a plain hash would allow.
 */
function apiKeyTag (apiKey: string): string {
  return createHmac('sha256', apiKey).update('roecny-auth-proxy fleet key name').digest('hex')
}

/** The keys of one token's fleet under `prefix`: base URL, client ID, API key (through its tag), scope and login-as. */
export function tokenKeys (prefix: string, identity: TokenIdentity): TokenKeys {
  const id = hashOf('fleet', [identity.baseUrl, identity.clientId, apiKeyTag(identity.apiKey), identity.scope ?? '', identity.loginAs ?? ''])
  const base = `${prefix}:${id}`
  return Object.freeze({ id, token: `${base}:token`, lock: `${base}:login-lock`, channel: `${base}:token-stored` })
}

/**
 * The keys of one account's budget under `prefix`: shared by every fleet of that base URL and client ID.
 * With `profile`, those of that profile's cap within the account (SPEC §13), shared by every replica
 * serving a profile of that name for that account.
 */
export function budgetKeys (prefix: string, account: AccountIdentity, profile?: string): BudgetKeys {
  const id = profile === undefined ? hashOf('account', [account.baseUrl, account.clientId]) : hashOf('profile', [account.baseUrl, account.clientId, profile])
  const base = `${prefix}:${id}`
  return Object.freeze({ id, leases: `${base}:leases`, bucket: `${base}:bucket`, pause: `${base}:pause` })
}
