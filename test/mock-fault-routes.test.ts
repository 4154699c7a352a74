// The mock's test-only switches: raw-socket fault routes and the record of every target, both off unless a test turns them on.
import t from 'tap'
import { request } from 'undici'
import type { MockRoecny } from '../src/mock/roecny.js'
import { send } from './helpers/raw.js'
import { openRaw } from './helpers/raw-client.js'
import { startMock } from './helpers/stack.js'

async function tokenFor (mock: MockRoecny): Promise<string> {
  const res = await request(`${mock.url}/api/v1/authentication/login`, { method: 'POST', headers: { 'x-client-id': 'demo-client', 'x-api-key': 'demo-key' } })
  return (await res.body.json() as { token: string }).token
}

/** The answer to a GET of `target` exactly as the mock sent it: a fault route's bytes are the point, so no client library reads them. */
async function answer (mock: MockRoecny, token: string, target: string): Promise<string> {
  return (await send(mock.url, { target, host: 'roecny', headers: { Authorization: `Bearer ${token}` } })).raw
}

t.test('off by default: no fault route, no record', async (t) => {
  // The test helper switches the fault routes on for every other test; the mock's own default is off.
  const mock = await startMock(t, { faultRoutes: false })
  const token = await tokenFor(mock)
  t.match(await answer(mock, token, '/api/v1/test/fault/short-length'), /^HTTP\/1\.1 404 /, 'a fault route is an unknown route')
  const raw = mock.rawAnswer('HTTP/1.1 200 OK\r\n\r\n')
  t.match(await answer(mock, token, raw), /^HTTP\/1\.1 404 /, 'a registered raw answer is not served either')
  t.same(mock.targets, [], 'nothing recorded')
})

t.test('switched on: named faults, raw answers served once, every target recorded', async (t) => {
  const mock = await startMock(t, { faultRoutes: true, recordTargets: true })
  const token = await tokenFor(mock)
  t.equal(await answer(mock, token, '/api/v1/test/fault/short-length'), `HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\n${'x'.repeat(100)}`, 'the named fault, byte for byte')
  const raw = mock.rawAnswer('HTTP/1.1 299 Odd\r\ncontent-length: 3\r\n\r\nodd')
  t.match(raw, /^\/api\/v1\/test\/fault\/raw-\d+$/)
  t.equal(await answer(mock, token, raw), 'HTTP/1.1 299 Odd\r\ncontent-length: 3\r\n\r\nodd', 'the raw answer, byte for byte')
  t.match(await answer(mock, token, raw), /^HTTP\/1\.1 404 /, 'served once')
  t.match(await answer(mock, token, '/api/v1/test/fault/no-such-fault'), /^HTTP\/1\.1 404 /)
  t.same(mock.targets, [
    { method: 'POST', url: '/api/v1/authentication/login' },
    { method: 'GET', url: '/api/v1/test/fault/short-length' },
    { method: 'GET', url: raw },
    { method: 'GET', url: raw },
    { method: 'GET', url: '/api/v1/test/fault/no-such-fault' }
  ])
})

t.test('a raw answer can end with a TCP reset instead of a close', async (t) => {
  const mock = await startMock(t, { faultRoutes: true })
  const token = await tokenFor(mock)
  const connection = await openRaw(mock.url)
  connection.socket.write(`GET ${mock.rawAnswer('HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\ncut', 'reset')} HTTP/1.1\r\nHost: roecny\r\nAuthorization: Bearer ${token}\r\n\r\n`)
  // A reset that follows the data at once reads as a plain end on Linux; what matters is that the bytes came and the connection ended.
  t.equal(await connection.closed, 'HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\ncut')
})
