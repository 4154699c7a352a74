// readProfiles() with last good texts: a named file that turns empty, unreadable or invalid keeps its text on a reload; a file without one is refused as at start.
import { createHash } from 'node:crypto'
import { chmodSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import t from 'tap'
import { ConfigError } from '../src/config.js'
import { readProfiles } from '../src/profiles/file.js'
import { testConfig } from './helpers/config.js'

const KEY = 'a-random-key-0123456789abcdef'
const API_KEY = 'the-api-key-value'

function sha (text: string): string {
  return createHash('sha256').update(text).digest('hex')
}

/** How each named file breaks, and the problem it is kept for. */
const BREAKS: Array<{ why: string, file: 'keys' | 'api-key', text: string | undefined, problem: RegExp }> = [
  { why: 'accessKeysFile emptied', file: 'keys', text: '', problem: /^profile p: accessKeysFile names an empty file$/ },
  { why: 'accessKeysFile holding only comments', file: 'keys', text: '# none\n', problem: /holds no key/ },
  { why: 'accessKeysFile with a short key', file: 'keys', text: 'short\n', problem: /shorter than 16 characters/ },
  { why: 'accessKeysFile removed', file: 'keys', text: undefined, problem: /cannot be read \(ENOENT\)/ },
  { why: 'apiKeyFile with a control character', file: 'api-key', text: 'bad\u0001key', problem: /must not contain control characters/ }
]

for (const row of BREAKS) {
  t.test(`a named file keeps its last good text: ${row.why}`, async (t) => {
    const dir = t.testdir()
    const path = (name: string): string => join(dir, name)
    const yaml = `profiles:\n  p:\n    accessKeysFile: ${path('keys')}\n    apiKeyFile: ${path('api-key')}\n`
    writeFileSync(path('profiles.yaml'), yaml)
    for (const [name, text] of [['keys', `${KEY}\n`], ['api-key', API_KEY]]) {
      writeFileSync(path(name as string), text as string)
      chmodSync(path(name as string), 0o600)
    }
    const first = readProfiles(path('profiles.yaml'), testConfig())
    t.same([...first.texts.keys()], [path('profiles.yaml'), path('keys'), path('api-key')])
    t.same([...first.kept], [])

    if (row.text === undefined) rmSync(path(row.file))
    else writeFileSync(path(row.file), row.text)
    const lastGood = new Map([...first.texts].filter(([name]) => name !== path('profiles.yaml')))
    const again = readProfiles(path('profiles.yaml'), testConfig(), lastGood)
    const p = again.description.profiles.get('p')
    t.same([...p?.digests ?? []], [sha(KEY)])
    t.equal(p?.apiKey.value, API_KEY)
    t.same([...again.kept.keys()], [path(row.file)])
    t.match(again.kept.get(path(row.file)), row.problem)
    t.same(again.texts, first.texts, 'the texts in use are the last good ones')
    t.notOk(JSON.stringify([...again.kept]).includes(API_KEY), 'a problem never holds a value')

    const problems = t.throws(() => readProfiles(path('profiles.yaml'), testConfig())) as ConfigError
    t.ok(problems instanceof ConfigError, 'without a last good text it is refused, as at start')
  })
}
