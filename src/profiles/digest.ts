// Access keys as profiles hold them: the SHA-256 digest of a key's bytes, in lower-case hex, and the shortest key accepted.
import { hash } from 'node:crypto'

/** Keys are meant to be random: a short one could be guessed from its digest, which may sit in a ConfigMap. */
export const MIN_KEY_LENGTH = 16

/** 64 hexadecimal characters, either case, as `sha256sum` prints them. */
export const DIGEST_PATTERN = '^[0-9a-fA-F]{64}$'

/**
 * The digest of a key's bytes: `printf %s "$KEY" | sha256sum`. A header value reaches us as a
 * latin1 string (one character per byte on the wire), so it goes back to its bytes that way.
 */
export function headerDigest (value: string): string {
  return hash('sha256', Buffer.from(value, 'latin1'), 'hex')
}

/** The digest of a key read from a file (UTF-8 text, so the bytes are the file's). */
export function textDigest (key: string): string {
  return hash('sha256', key, 'hex')
}
