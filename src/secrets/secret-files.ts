// What a *_FILE secret may hold, read the same way at start and on every re-read: size, emptiness, per-kind validation.
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'

/** Every variable that names a file secret re-read at run time (SPEC §10). */
export type FileSecretName = 'ROECNY_CLIENT_ID_FILE' | 'ROECNY_API_KEY_FILE' | 'PROXY_ACCESS_KEY_FILE' | 'ROECNY_CA_FILE'

/** The outcome of reading or parsing: a value, or one line saying what is wrong (never quoting the content). */
export type Parsed<T> = { readonly ok: true, readonly value: T } | { readonly ok: false, readonly problem: string }

export const MAX_SECRET_FILE_BYTES = 64 * 1024
export const MAX_CA_FILE_BYTES = 1024 * 1024

const SIZE_LABELS: Record<number, string> = { [MAX_SECRET_FILE_BYTES]: '64 KiB', [MAX_CA_FILE_BYTES]: '1 MiB' }

function ok<T> (value: T): Parsed<T> {
  return { ok: true, value }
}

function problem<T> (text: string): Parsed<T> {
  return { ok: false, problem: text }
}

/**
 * The text of a small regular file, trimmed, and its permission bits. Symbolic links are followed,
 * as a Kubernetes Secret volume's `key -> ..data/key` must be.
 */
export function readSecretFile (name: string, path: string, maxBytes: number): Parsed<{ text: string, mode: number }> {
  let text: string
  let mode: number
  try {
    // A path to a device or a huge file would otherwise block or fill memory.
    const stats = statSync(path)
    if (!stats.isFile()) return problem(`${name} must name a regular file`)
    if (stats.size > maxBytes) return problem(`${name} names a file larger than ${SIZE_LABELS[maxBytes] ?? `${maxBytes} bytes`}`)
    mode = stats.mode & 0o777
    text = readFileSync(path, 'utf8').trim()
  } catch (err) {
    return problem(`${name} cannot be read (${(err as NodeJS.ErrnoException).code})`)
  }
  if (text === '') return problem(`${name} names an empty file`)
  return ok({ text, mode })
}

/**
 * Header values travel in `x-client-id`, `x-api-key`, `x-proxy-key`, `scope`, `x-login-as`; undici
 * would refuse anything else at the first login, long after the value was read.
 */
export function legalHeaderValue (value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value)
}

/** The problem a value that cannot travel in a header raises, naming `source` (the variable it came from). */
export function headerValueProblem (source: string): string {
  return `${source} must not contain control characters or characters beyond Latin-1`
}

/** A client ID or an API key: the file's whole trimmed text, legal in a header. */
export function parseCredential (name: string, text: string): Parsed<string> {
  return legalHeaderValue(text) ? ok(text) : problem(headerValueProblem(name))
}

/**
 * Access keys, one per line; blank lines and lines starting with `#` are ignored, so a file can
 * carry the old and the new key while clients move over. At least one key.
 */
export function parseAccessKeys (name: string, text: string): Parsed<readonly string[]> {
  const keys: string[] = []
  for (const line of text.split(/\r?\n/)) {
    const key = line.trim()
    if (key === '' || key.startsWith('#')) continue
    if (!legalHeaderValue(key)) return problem(headerValueProblem(name))
    if (!keys.includes(key)) keys.push(key)
  }
  if (keys.length === 0) return problem(`${name} holds no key (only blank lines and # comments)`)
  return ok(Object.freeze(keys))
}

const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/** The bundle's certificates, each checked to parse, so a wrong file fails here rather than at the next TLS handshake. */
export function parseCaBundle (name: string, text: string): Parsed<string> {
  const certificates = text.match(PEM_CERTIFICATE) ?? []
  try {
    if (certificates.length === 0) throw new Error('no certificate')
    for (const pem of certificates) new X509Certificate(pem) // eslint-disable-line no-new -- parsing is the check
  } catch {
    return problem(`${name} must hold PEM certificates (-----BEGIN CERTIFICATE-----)`)
  }
  return ok(certificates.join('\n'))
}
