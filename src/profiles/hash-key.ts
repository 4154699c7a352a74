// The hash-key command: the SHA-256 digest of a key read on standard input, or a new random key and its digest.
import { hash, randomBytes } from 'node:crypto'
import type { Readable } from 'node:stream'
import { ConfigError } from '../config.js'
import { MAX_SECRET_FILE_BYTES } from '../config/secret-files.js'
import { MIN_KEY_LENGTH } from './digest.js'

/** Standard input as the command reads it: a terminal is not read (nobody would know to type a key and Ctrl-D). */
export type KeyInput = Readable & { readonly isTTY?: boolean }

/** 32 random bytes, base64url: 43 characters that cannot be mistaken for the 64 hex characters of a digest. */
const NEW_KEY_BYTES = 32

async function readAll (input: KeyInput): Promise<Buffer> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of input) {
    chunks.push(chunk as Buffer)
    size += (chunk as Buffer).length
    if (size > MAX_SECRET_FILE_BYTES) throw new ConfigError(['standard input holds more than 64 KiB; give one key'])
  }
  return Buffer.concat(chunks)
}

/** The bytes of the key: one trailing line end (`echo` adds one, and no header value can end with one) is not part of it. */
function keyBytes (given: Buffer): Buffer {
  let end = given.length
  if (given[end - 1] === 0x0a) end--
  if (end > 0 && given[end - 1] === 0x0d) end--
  return given.subarray(0, end)
}

/** What HTTP lets a caller send as the header's value: no control characters, no space or tab at either end (parsers strip them). */
function keyProblem (key: Buffer): string | undefined {
  if (key.length === 0) return 'the key on standard input is empty (send nothing at all to make a new key)'
  if (key.includes(0x0a)) return 'standard input holds more than one line; give one key'
  if (key.some((byte) => (byte < 0x20 && byte !== 0x09) || byte === 0x7f)) return 'the key holds control characters; x-proxy-key cannot carry them'
  const edges = [key[0], key[key.length - 1]]
  if (edges.some((byte) => byte === 0x20 || byte === 0x09)) return 'the key starts or ends with a space or a tab, which HTTP strips from a header value'
  if (key.toString('utf8').length < MIN_KEY_LENGTH) return `the key is shorter than ${MIN_KEY_LENGTH} characters; keys must be random (run hash-key with no input to make one)`
  return undefined
}

/**
 * Prints the digest of the key given on `input` (the digest alone, for `$(...)`), or, when nothing is
 * given (an empty input, or a terminal), a new random key and its digest. A key that could not be
 * sent or is too short throws ConfigError: the CLI exits 78. The key itself is never echoed.
 */
export async function hashKey (input: KeyInput, write: (text: string) => void, random: (size: number) => Buffer = randomBytes): Promise<void> {
  const given = input.isTTY === true ? Buffer.alloc(0) : await readAll(input)
  if (given.length === 0) {
    const key = random(NEW_KEY_BYTES).toString('base64url')
    write(`key: ${key}\ndigest: ${hash('sha256', key, 'hex')}\n`)
    return
  }
  const key = keyBytes(given)
  const problem = keyProblem(key)
  if (problem !== undefined) throw new ConfigError([problem])
  write(`${hash('sha256', key, 'hex')}\n`)
}
