// Under profiles, the checks that come before a profile is chosen, and the target rules, refuse as without them.
import { createHash } from 'node:crypto'
import { chmodSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'tap'
import { DEMO_API_KEY, DEMO_CLIENT_ID } from '../src/mock/roecny.js'
import { rawRequest } from './helpers/http.js'
import { startStack } from './helpers/stack.js'
import { tempDir } from './helpers/temp.js'

const KEY = 'reporting-key-0123456789abcdef'

test('under profiles, a refused Host, a bad target and a dot segment are refused before any profile policy', async (t) => {
  const dir = tempDir(t, 'profiles-refusals')
  const file = join(dir, 'profiles.yaml')
  writeFileSync(file, `profiles:\n  reporting:\n    accessKeys: ["${createHash('sha256').update(KEY).digest('hex')}"]\n    allowPaths: ["/api/v1/balances/**"]\n`)
  chmodSync(file, 0o600)
  const { mock, url } = await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file } })
  const rows: Array<{ target: string, host: string, status: number, code: string, why: string }> = [
    { target: '/api/v1/balances/current', host: 'rebound.example', status: 403, code: 'PROXY_FORBIDDEN_HOST', why: 'the Host check runs before the profile is chosen' },
    { target: '//api/v1/balances/current', host: '127.0.0.1', status: 400, code: 'PROXY_BAD_REQUEST', why: 'a path that starts with two slashes' },
    { target: '/api/v1/./balances/current', host: '127.0.0.1', status: 400, code: 'PROXY_BAD_REQUEST', why: 'a dot segment, before decoding' },
    { target: '/api/v1/balances/%63urrent?a=1', host: '127.0.0.1', status: 404, code: '', why: 'an escape decoded before the policy compares, then forwarded as sent (the mock knows no such route)' }
  ]
  for (const row of rows) {
    const answer = await rawRequest(url, `GET ${row.target} HTTP/1.1\r\nHost: ${row.host}\r\nx-proxy-key: ${KEY}\r\nConnection: close\r\n\r\n`)
    t.match(answer, new RegExp(`^HTTP/1\\.1 ${row.status} `), `${row.target}: ${row.why}`)
    if (row.code !== '') t.match(answer, `x-roecny-proxy-error: ${row.code}`, `${row.target}: ${row.code}`)
  }
  t.equal(mock.requests.length, 1, 'only the allowed request reached Roecny')
  t.equal(mock.requests[0]?.url, '/api/v1/balances/%63urrent?a=1', 'byte for byte')
})

test('what the profiles file warns of is logged at start, naming the profile', async (t) => {
  const dir = tempDir(t, 'profiles-warnings')
  const file = join(dir, 'profiles.yaml')
  writeFileSync(file, `profiles:\n  reporting:\n    accessKeys: ["${createHash('sha256').update(KEY).digest('hex')}"]\n    allowMethods: [POST]\n`)
  chmodSync(file, 0o600)
  const { logs } = await startStack(t, { env: { ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PROFILES_FILE: file, PROXY_ALLOW_METHODS: 'GET' } })
  const warned = logs.records().filter((record) => record.level === 'warn' && String(record.msg).includes('allowMethods leaves no method'))
  t.equal(warned.length, 1, 'one warning')
  t.match(warned[0]?.msg, 'reporting', 'naming the profile')
})
