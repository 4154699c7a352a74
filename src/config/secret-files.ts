// Secrets and the files that hold them: NAME or NAME_FILE, small regular files only, loose modes warned about, PEM bundles parsed.
import { X509Certificate } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'

const MAX_SECRET_FILE_BYTES = 64 * 1024
const MAX_CA_FILE_BYTES = 1024 * 1024

export const HEADER_VALUE_PROBLEM = 'must not contain control characters or characters beyond Latin-1'

// Header values travel in `x-client-id`, `x-api-key`, `scope`, `x-login-as`; undici would refuse
// anything else at the first login, long after start, so the problem is reported here instead.
export function legalHeaderValue (value: string): boolean {
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value)
}

/** The trimmed text of a small regular file and its permission bits; undefined (and a problem) when it cannot be used. */
function readSmallFile (name: string, path: string, maxBytes: number, sizeLabel: string, problems: string[]): { text: string, mode: number } | undefined {
  let text: string
  let mode: number
  try {
    // A path to a device or a huge file would otherwise block start-up or fill memory.
    const stats = statSync(path)
    if (!stats.isFile()) {
      problems.push(`${name} must name a regular file`)
      return undefined
    }
    if (stats.size > maxBytes) {
      problems.push(`${name} names a file larger than ${sizeLabel}`)
      return undefined
    }
    mode = stats.mode & 0o777
    text = readFileSync(path, 'utf8').trim()
  } catch (err) {
    problems.push(`${name} cannot be read (${(err as NodeJS.ErrnoException).code})`)
    return undefined
  }
  if (text === '') {
    problems.push(`${name} names an empty file`)
    return undefined
  }
  return { text, mode }
}

function readSecretFile (name: string, path: string, problems: string[], warnings: string[]): string | undefined {
  const file = readSmallFile(name, path, MAX_SECRET_FILE_BYTES, '64 KiB', problems)
  // Docker and Kubernetes mount secrets 0444 / 0644 unless told otherwise: every local user could read the key.
  if (file !== undefined && (file.mode & 0o044) !== 0) {
    warnings.push(`${name} names a file that group or others may read (mode ${file.mode.toString(8).padStart(4, '0')}); ` +
      'let only the proxy\'s user read it (chmod 600)')
  }
  return file?.text
}

const CA_PROBLEM = 'ROECNY_CA_FILE must hold PEM certificates (-----BEGIN CERTIFICATE-----)'
const PEM_CERTIFICATE = /-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g

/** The CA bundle's certificates, each checked to parse, so a wrong file fails at start rather than at the first TLS handshake. */
export function readCaFile (path: string | undefined, problems: string[]): string | undefined {
  if (path === undefined) return undefined
  const file = readSmallFile('ROECNY_CA_FILE', path, MAX_CA_FILE_BYTES, '1 MiB', problems)
  if (file === undefined) return undefined
  const certificates = file.text.match(PEM_CERTIFICATE) ?? []
  try {
    if (certificates.length === 0) throw new Error('no certificate')
    for (const pem of certificates) new X509Certificate(pem) // eslint-disable-line no-new -- parsing is the check
  } catch {
    problems.push(CA_PROBLEM)
    return undefined
  }
  return certificates.join('\n')
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
  const value = direct ?? readSecretFile(fileName, file as string, problems, warnings)
  if (value !== undefined && !legalHeaderValue(value)) {
    problems.push(`${source} ${HEADER_VALUE_PROBLEM}`)
    return undefined
  }
  return value
}
