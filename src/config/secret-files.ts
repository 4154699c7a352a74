// Secrets and the files that hold them: NAME or NAME_FILE, small regular files only, loose modes warned about, PEM bundles
// parsed; read the same way at start and each time a file secret is re-read (SPEC §10).
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'

/** Every variable that names a file secret re-read at run time. */
export type FileSecretName = 'ROECNY_CLIENT_ID_FILE' | 'ROECNY_API_KEY_FILE' | 'PROXY_ACCESS_KEY_FILE' | 'ROECNY_CA_FILE' | 'REDIS_URL_FILE' | 'REDIS_CA_FILE'
export const FILE_SECRET_NAMES: readonly FileSecretName[] = ['ROECNY_CLIENT_ID_FILE', 'ROECNY_API_KEY_FILE', 'PROXY_ACCESS_KEY_FILE', 'ROECNY_CA_FILE', 'REDIS_URL_FILE', 'REDIS_CA_FILE']

/** The outcome of reading or parsing: a value, or one line saying what is wrong (never quoting the content). */
export type Parsed<T> = { readonly ok: true, readonly value: T } | { readonly ok: false, readonly problem: string }

export const MAX_SECRET_FILE_BYTES = 64 * 1024
export const MAX_CA_FILE_BYTES = 1024 * 1024
const SIZE_LABELS: Record<number, string> = { [MAX_SECRET_FILE_BYTES]: '64 KiB', [MAX_CA_FILE_BYTES]: '1 MiB' }

export const HEADER_VALUE_PROBLEM = 'must not contain control characters or characters beyond Latin-1'

function ok<T> (value: T): Parsed<T> {
  return { ok: true, value }
}

function problem<T> (text: string): Parsed<T> {
  return { ok: false, problem: text }
}

// Header values travel in `x-client-id`, `x-api-key`, `x-proxy-key`, `scope`, `x-login-as`; undici would
// refuse anything else at the first login, long after the value was read, so the problem is reported here.
export function legalHeaderValue (value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value)
}

/**
 * The trimmed text of a small regular file and its permission bits. Symbolic links are followed, as a
 * Kubernetes Secret volume's `key -> ..data/key` must be.
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

/** A client ID or an API key: the file's whole trimmed text, legal in a header. */
export function parseCredential (name: string, text: string): Parsed<string> {
  return legalHeaderValue(text) ? ok(text) : problem(`${name} ${HEADER_VALUE_PROBLEM}`)
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
    if (!legalHeaderValue(key)) return problem(`${name} ${HEADER_VALUE_PROBLEM}`)
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

/** The text of a small file secret; undefined (and a problem) when it cannot be used. Loose modes are warned about. */
function readStartFile (name: string, path: string, maxBytes: number, problems: string[], warnings?: string[]): string | undefined {
  const file = readSecretFile(name, path, maxBytes)
  if (!file.ok) {
    problems.push(file.problem)
    return undefined
  }
  // Docker and Kubernetes mount secrets 0444 / 0644 unless told otherwise: every local user could read the key.
  if (warnings !== undefined && (file.value.mode & 0o044) !== 0) {
    warnings.push(`${name} names a file that group or others may read (mode ${file.value.mode.toString(8).padStart(4, '0')}); ` +
      'let only the proxy\'s user read it (chmod 600)')
  }
  return file.value.text
}

function parsed<T> (result: Parsed<T>, problems: string[]): T | undefined {
  if (!result.ok) problems.push(result.problem)
  return result.ok ? result.value : undefined
}

/** The CA bundle's certificates, each checked to parse, so a wrong file fails at start rather than at the first TLS handshake. */
export function readCaFile (path: string | undefined, problems: string[], name = 'ROECNY_CA_FILE'): string | undefined {
  if (path === undefined) return undefined
  // A CA bundle is no secret: any mode will do.
  const text = readStartFile(name, path, MAX_CA_FILE_BYTES, problems)
  return text === undefined ? undefined : parsed(parseCaBundle(name, text), problems)
}

export const REDIS_URL_PROBLEM = 'must be a redis:// or rediss:// URL (redis[s]://[user:password@]host[:port][/db])'

/**
 * A Redis URL: redis:// or rediss://, a host, at most a database number as its path. The problem
 * never quotes the value: the URL may hold a password.
 */
export function parseRedisUrl (name: string, text: string): Parsed<string> {
  let url: URL
  try {
    url = new URL(text)
  } catch {
    return problem(`${name} ${REDIS_URL_PROBLEM}`)
  }
  const scheme = url.protocol === 'redis:' || url.protocol === 'rediss:'
  if (!scheme || url.hostname === '' || !/^(\/\d*)?$/.test(url.pathname) || url.search !== '' || url.hash !== '') {
    return problem(`${name} ${REDIS_URL_PROBLEM}`)
  }
  return ok(text)
}

/**
 * `NAME` or `NAME_FILE`, exactly one of them (or neither, when the secret is optional); the problem
 * names whichever holds the bad value.
 */
export function secret (name: string, data: Record<string, string>, problems: string[], warnings: string[], required = true): string | undefined {
  const fileName = `${name}_FILE`
  const direct = data[name]
  const file = data[fileName]
  if (direct !== undefined && file !== undefined) {
    problems.push(`${name} and ${fileName} are both set; set only one`)
    return undefined
  }
  if (direct === undefined && file === undefined) {
    if (required) problems.push(`${name} or ${fileName} is required`)
    return undefined
  }
  const source = direct !== undefined ? name : fileName
  const value = direct ?? readStartFile(fileName, file as string, MAX_SECRET_FILE_BYTES, problems, warnings)
  return value === undefined ? undefined : parsed(parseCredential(source, value), problems)
}

/**
 * PROXY_ACCESS_KEY (one key) or PROXY_ACCESS_KEY_FILE (one key per line, `#` comments): the keys
 * callers may present; none when neither is set.
 */
export function accessKeys (data: Record<string, string>, problems: string[], warnings: string[]): readonly string[] {
  if (data.PROXY_ACCESS_KEY_FILE === undefined || data.PROXY_ACCESS_KEY !== undefined) {
    const key = secret('PROXY_ACCESS_KEY', data, problems, warnings, false)
    return Object.freeze(key === undefined ? [] : [key])
  }
  const text = readStartFile('PROXY_ACCESS_KEY_FILE', data.PROXY_ACCESS_KEY_FILE, MAX_SECRET_FILE_BYTES, problems, warnings)
  const keys = text === undefined ? undefined : parsed(parseAccessKeys('PROXY_ACCESS_KEY_FILE', text), problems)
  return keys ?? Object.freeze([])
}

/** The paths of the file secrets in use (with no problem found, each one set was read). */
export function secretFiles (data: Record<string, string>): Readonly<Partial<Record<FileSecretName, string>>> {
  const files: Partial<Record<FileSecretName, string>> = {}
  for (const name of FILE_SECRET_NAMES) {
    const path = data[name]
    if (path !== undefined) files[name] = path
  }
  return Object.freeze(files)
}
