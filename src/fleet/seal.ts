// The token as the fleet stores it: AES-256-GCM under a key derived from the API key (HKDF-SHA256), bound to its key name.
import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto'

const VERSION = 'v1'
const IV_BYTES = 12
const TAG_BYTES = 16

/** What a replica needs to adopt a token another one obtained; times are relative, so no two clocks need agree. */
export interface StoredToken {
  readonly token: string
  /** The lifetime Roecny granted, from which every replica plans the same refresh. */
  readonly lifetimeMs: number
}

/** Seals and opens the fleet's token with one API key; an entry sealed under another key does not open. */
export interface TokenSeal {
  seal: (stored: StoredToken) => string
  /** The token, or undefined when the entry is not one this API key sealed for this key name (rotated key, tampering, garbage). */
  open: (sealed: string) => StoredToken | undefined
}

/**
 * `apiKey` is the secret only the fleet's replicas hold: Redis, its backups and its readers hold
 * ciphertext. The key name is the additional data, so an entry copied under another name is refused.
 */
export function tokenSeal (apiKey: string, keyName: string): TokenSeal {
  const key = Buffer.from(hkdfSync('sha256', apiKey, 'roecny-auth-proxy fleet token', `${VERSION} ${keyName}`, 32))
  const aad = Buffer.from(keyName)

  function seal (stored: StoredToken): string {
    const iv = randomBytes(IV_BYTES)
    const cipher = createCipheriv('aes-256-gcm', key, iv)
    cipher.setAAD(aad)
    const body = Buffer.concat([cipher.update(JSON.stringify(stored), 'utf8'), cipher.final()])
    return [VERSION, iv.toString('base64url'), body.toString('base64url'), cipher.getAuthTag().toString('base64url')].join('.')
  }

  function open (sealed: string): StoredToken | undefined {
    const [version, iv, body, tag, ...rest] = sealed.split('.')
    if (version !== VERSION || iv === undefined || body === undefined || tag === undefined || rest.length > 0) return undefined
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'), { authTagLength: TAG_BYTES })
      decipher.setAAD(aad)
      decipher.setAuthTag(Buffer.from(tag, 'base64url'))
      const text = Buffer.concat([decipher.update(Buffer.from(body, 'base64url')), decipher.final()]).toString('utf8')
      // Authenticated: only a replica holding this API key wrote it, with seal() above.
      return JSON.parse(text) as StoredToken
    } catch {
      // Sealed under another API key (rotation), or not sealed by us at all: never trusted.
      return undefined
    }
  }

  return { seal, open }
}
