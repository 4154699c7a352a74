// hash-key: the digest of the key on standard input, as `printf %s "$KEY" | sha256sum` prints it; a new random key when given none.
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import type { Test } from 'tap'
import { ConfigError } from '../src/config.js'
import { hashKey } from '../src/profiles/hash-key.js'
import type { KeyInput } from '../src/profiles/hash-key.js'
import { source, spawnScript } from './helpers/cli.js'

const cli = source('cli')
// Each child spends most of its time compiling TypeScript; running them at once shortens the wait.
t.jobs = 3

const KEY = 'a-random-access-key-0123456789'

function sha (bytes: string | Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

/** The command as a real child process, `input` written to its standard input and closed. */
async function run (t: Test, input: string | Buffer): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const child = spawnScript(t, cli, ['hash-key'])
  child.process.stdin.end(input)
  const code = await child.exited
  return { code, stdout: child.stdout.join('\n'), stderr: child.stderr.join('\n') }
}

t.test('a key on standard input: its digest alone, the same as printf %s "$KEY" | sha256sum', async (t) => {
  const shell = execFileSync('sh', ['-c', 'printf %s "$KEY" | sha256sum'], { env: { KEY, PATH: process.env.PATH } }).toString().split(' ')[0]
  const { code, stdout, stderr } = await run(t, KEY)
  t.equal(code, 0)
  t.equal(stdout, shell)
  t.equal(stdout, sha(KEY))
  t.equal(stderr, '')
})

t.test('echo "$KEY" | hash-key: the one trailing newline is not part of the key', async (t) => {
  const { code, stdout } = await run(t, `${KEY}\n`)
  t.equal(code, 0)
  t.equal(stdout, sha(KEY))
})

t.test('no input: a new random key and its digest', async (t) => {
  const { code, stdout } = await run(t, '')
  t.equal(code, 0)
  const match = /^key: ([A-Za-z0-9_-]{43})\ndigest: ([0-9a-f]{64})$/.exec(stdout)
  t.ok(match, '43 base64url characters (32 bytes), then the digest')
  t.equal(match?.[2], sha(match?.[1] ?? ''))
})

t.test('a short key is refused: exit 78, and the key is not echoed', async (t) => {
  const { code, stdout, stderr } = await run(t, 'short-key\n')
  t.equal(code, 78)
  t.equal(stdout, '')
  t.equal(stderr, 'roecny-auth-proxy: configuration error: the key is shorter than 16 characters; keys must be random (run hash-key with no input to make one)')
})

t.test('every input the command meets, in process', async (t) => {
  const rows: Array<{ why: string, input: Buffer, digest?: string, problem?: string }> = [
    { why: 'as printf sends it', input: Buffer.from(KEY), digest: sha(KEY) },
    { why: 'as echo sends it', input: Buffer.from(`${KEY}\n`), digest: sha(KEY) },
    { why: 'from a Windows file', input: Buffer.from(`${KEY}\r\n`), digest: sha(KEY) },
    { why: 'only one newline is taken off', input: Buffer.from(`${KEY}\n\n`), problem: 'standard input holds more than one line; give one key' },
    { why: 'two keys', input: Buffer.from(`${KEY}\n${KEY}\n`), problem: 'standard input holds more than one line; give one key' },
    { why: 'non-ASCII: the digest of its UTF-8 bytes', input: Buffer.from('clé-de-lecture-0123456789'), digest: sha(Buffer.from('clé-de-lecture-0123456789')) },
    { why: 'a lone newline is an empty key, not a request for a new one', input: Buffer.from('\n'), problem: 'the key on standard input is empty (send nothing at all to make a new key)' },
    { why: 'a control character', input: Buffer.from(`${KEY}\u0007`), problem: 'the key holds control characters; x-proxy-key cannot carry them' },
    { why: 'a DEL', input: Buffer.from(`${KEY}\u007f`), problem: 'the key holds control characters; x-proxy-key cannot carry them' },
    { why: 'a carriage return inside', input: Buffer.from(`${KEY}\rx`), problem: 'the key holds control characters; x-proxy-key cannot carry them' },
    { why: 'a tab inside is legal in a header', input: Buffer.from('key-with\ta-tab-0123'), digest: sha('key-with\ta-tab-0123') },
    { why: 'a leading space', input: Buffer.from(` ${KEY}`), problem: 'the key starts or ends with a space or a tab, which HTTP strips from a header value' },
    { why: 'a trailing tab', input: Buffer.from(`${KEY}\t\n`), problem: 'the key starts or ends with a space or a tab, which HTTP strips from a header value' },
    { why: '15 characters', input: Buffer.from('123456789012345'), problem: 'the key is shorter than 16 characters; keys must be random (run hash-key with no input to make one)' },
    { why: '16 characters', input: Buffer.from('1234567890123456'), digest: sha('1234567890123456') },
    { why: 'more than 64 KiB', input: Buffer.alloc(64 * 1024 + 1, 'k'), problem: 'standard input holds more than 64 KiB; give one key' }
  ]
  for (const row of rows) {
    let out = ''
    // Split in two chunks, as a pipe may deliver it.
    const input = Readable.from([row.input.subarray(0, 3), row.input.subarray(3)])
    try {
      await hashKey(input, (text) => { out += text })
      t.equal(out, `${row.digest as string}\n`, row.why)
    } catch (err) {
      t.ok(err instanceof ConfigError, row.why)
      t.same((err as ConfigError).problems, [row.problem], row.why)
    }
  }
})

t.test('a terminal is not read: a new key from the random source', async (t) => {
  const terminal: KeyInput = Object.assign(Readable.from([Buffer.from(KEY)]), { isTTY: true })
  let out = ''
  await hashKey(terminal, (text) => { out += text }, (size) => Buffer.alloc(size, 0xfb))
  const key = Buffer.alloc(32, 0xfb).toString('base64url')
  t.equal(out, `key: ${key}\ndigest: ${sha(key)}\n`)
  t.not(key.length, 64, 'a key never looks like a digest')
})
