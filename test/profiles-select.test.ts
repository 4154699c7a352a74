// Caller selection: the x-proxy-key header's digest picks the one profile; no header the keyless one; anything else none (401).
import { createHash } from 'node:crypto'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { connect } from 'node:net'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import type { Test } from 'tap'
import { loadProfiles } from '../src/profiles/file.js'
import { createSelector } from '../src/profiles/select.js'
import { testConfig } from './helpers/config.js'

function sha (bytes: string | Buffer): string {
  return createHash('sha256').update(bytes).digest('hex')
}

const READER = 'reader-key-0123456789abcdef'
const PAYER = 'payer-key-0123456789abcdef'
const PAYER_NEXT = 'payer-key-next-0123456789'
/** A key with a non-ASCII character, as a client sends it: its UTF-8 bytes. */
const ACCENTED = 'clé-de-lecture-0123456789'

function load (t: Test, yaml: string, files: Record<string, string> = {}): ReturnType<typeof loadProfiles> {
  const dir = t.testdir(files)
  writeFileSync(join(dir, 'p.yaml'), yaml.replaceAll('{dir}', dir))
  return loadProfiles(join(dir, 'p.yaml'), testConfig())
}

const WITH_KEYLESS = `
profiles:
  reporting:
    accessKeys: ["${sha(READER).toUpperCase()}", "${sha(Buffer.from(ACCENTED, 'utf8'))}"]
  payments:
    accessKeysFile: "{dir}/keys"
  tools:
    keyless: true
`

test('each selection rule of §13', async (t) => {
  const description = load(t, WITH_KEYLESS, { keys: `${PAYER}\n${PAYER_NEXT}\n` })
  const select = createSelector(description)
  const rows: Array<{ why: string, header: string | string[] | undefined, profile: string | undefined }> = [
    { why: 'a digest listed in accessKeys (written upper case)', header: READER, profile: 'reporting' },
    { why: 'a key in clear from accessKeysFile', header: PAYER, profile: 'payments' },
    { why: 'the other key of that file', header: PAYER_NEXT, profile: 'payments' },
    { why: 'no header: the keyless profile', header: undefined, profile: 'tools' },
    { why: 'an unknown key', header: 'unknown-key-0123456789abcdef', profile: undefined },
    { why: 'an empty header', header: '', profile: undefined },
    { why: 'a key with a space after it is another key', header: `${READER} `, profile: undefined },
    { why: 'a digest sent as the key is not the key', header: sha(READER), profile: undefined },
    { why: 'two keys joined as Node joins a repeated header', header: `${READER}, ${PAYER}`, profile: undefined },
    { why: 'an array of values', header: [READER], profile: undefined }
  ]
  for (const row of rows) t.equal(select(row.header)?.name, row.profile, row.why)

  const keyed = createSelector(load(t, `profiles:\n  reporting:\n    accessKeys: ["${sha(READER)}"]\n`))
  t.equal(keyed(undefined), undefined, 'no key and no keyless profile')
  t.equal(keyed(READER)?.name, 'reporting')
})

test('the digest is of the bytes on the wire: printf %s "$KEY" | sha256sum, for a non-ASCII key too', async (t) => {
  const select = createSelector(load(t, WITH_KEYLESS, { keys: `${PAYER}\n` }))
  const seen: IncomingHttpHeaders[] = []
  const server = createServer((req, res) => {
    seen.push(req.headers)
    res.end()
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const socket = connect((server.address() as AddressInfo).port, '127.0.0.1')
  // The header as a client writes it: the key's UTF-8 bytes, which Node hands over one character per byte.
  socket.end(Buffer.concat([Buffer.from('GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\nx-proxy-key: '), Buffer.from(ACCENTED, 'utf8'), Buffer.from('\r\n\r\n')]))
  socket.resume()
  await once(socket, 'close')
  const header = seen[0]?.['x-proxy-key']
  t.not(header, ACCENTED, 'Node reads header bytes as latin1')
  t.equal(select(header)?.name, 'reporting')
})

test('selection costs one hash and one lookup', async (t) => {
  const select = createSelector(load(t, WITH_KEYLESS, { keys: `${PAYER}\n` }))
  const rounds = 20_000
  const started = process.hrtime.bigint()
  for (let i = 0; i < rounds; i++) select(i % 2 === 0 ? READER : PAYER)
  const nsPerCall = Number(process.hrtime.bigint() - started) / rounds
  t.comment(`select: ${Math.round(nsPerCall)} ns per call`)
  // A SHA-256 of a short key takes about a microsecond; 50 µs leaves a loaded machine its slack.
  t.ok(nsPerCall < 50_000, 'microseconds, not milliseconds')
})
