// serve, demo and mock as real processes: they answer, then drain and exit 0 on SIGTERM or SIGINT.
// They run the TypeScript source, so the lines only a running process reaches count for coverage.
import t from 'tap'
import { request } from 'undici'
import { DEMO_API_KEY, DEMO_CLIENT_ID, LOGIN_PATH } from '../src/mock/roecny.js'
import { runScript, source, spawnScript } from './helpers/cli.js'
import { startMock } from './helpers/stack.js'
import { until } from './helpers/until.js'

const cli = source('cli')
// Each child spends most of its time compiling TypeScript; running them at once shortens the wait.
t.jobs = 3

t.test('a configuration error reaches stderr and exits 78', async (t) => {
  const { code, stdout, stderr } = await runScript(t, cli, ['check'], {})
  t.equal(code, 78)
  t.equal(stdout, '')
  t.match(stderr, /^roecny-auth-proxy: configuration error: ROECNY_BASE_URL is required$/m)
})

t.test('mock answers a login and exits 0 on SIGTERM', async (t) => {
  const child = spawnScript(t, cli, ['mock'], { MOCK_PORT: '0' })
  const line = await child.line(/^mock Roecny API listening on /)
  const url = line.replace('mock Roecny API listening on ', '')
  t.match(url, /^http:\/\/127\.0\.0\.1:\d+$/)
  t.match(await child.line(/^demo credentials:/), 'ROECNY_CLIENT_ID=demo-client ROECNY_API_KEY=demo-key')
  const res = await request(url + LOGIN_PATH, { method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY } })
  t.equal(res.statusCode, 200)
  const { token } = (await res.body.json()) as { token: string }
  t.type(token, 'string')
  // The fault routes are the tests' alone: this one would never answer if it were served.
  const hang = await request(`${url}/api/v1/test/hang`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(hang.statusCode, 404, 'mock serves no fault route')
  await hang.body.dump()
  child.process.kill('SIGTERM')
  t.equal(await child.exited, 0)
})

t.test('mock with MOCK_FAULT_ROUTES=true also serves the fault routes', async (t) => {
  const child = spawnScript(t, cli, ['mock'], { MOCK_PORT: '0', MOCK_FAULT_ROUTES: 'true' })
  const url = (await child.line(/^mock Roecny API listening on /)).replace('mock Roecny API listening on ', '')
  const login = await request(url + LOGIN_PATH, { method: 'POST', headers: { 'x-client-id': DEMO_CLIENT_ID, 'x-api-key': DEMO_API_KEY } })
  const { token } = (await login.body.json()) as { token: string }
  const teapot = await request(`${url}/api/v1/test/status/418`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(teapot.statusCode, 418, 'a fault route answers as asked')
  t.match(await teapot.body.json(), { code: 'mock_status' })
  child.process.kill('SIGTERM')
  t.equal(await child.exited, 0)
})

t.test('serve forwards with the token, drains an in-flight request on SIGTERM and exits 0', async (t) => {
  const mock = await startMock(t)
  const child = spawnScript(t, cli, ['serve'], { ROECNY_BASE_URL: mock.url, ROECNY_CLIENT_ID: DEMO_CLIENT_ID, ROECNY_API_KEY: DEMO_API_KEY, PROXY_PORT: '0' })
  const started = JSON.parse(await child.line(/roecny-auth-proxy listening/)) as { address: string }
  t.match(started.address, /^http:\/\/127\.0\.0\.1:\d+$/)
  const res = await request(`${started.address}/api/v1/balances/current`)
  t.equal(res.statusCode, 200)
  t.match(await res.body.json(), [{ currency: 'USD' }])
  // An in-flight request when SIGTERM arrives is drained, not cut.
  const inFlight = request(`${started.address}/api/v1/test/held`)
  await until(() => mock.held.length > 0, 'the request to be held at the mock')
  child.process.kill('SIGTERM')
  await child.line(/shutting down: readiness now fails/)
  mock.releaseHeld()
  const drained = await inFlight
  t.equal(drained.statusCode, 200, 'the in-flight request finished after SIGTERM')
  t.same(await drained.body.json(), { released: true })
  t.equal(await child.exited, 0)
  t.notMatch(child.stdout.join('\n'), DEMO_API_KEY, 'the API key is in no log line')
})

t.test('demo prints curl lines with the real port and exits 0 on SIGTERM', async (t) => {
  const child = spawnScript(t, cli, ['demo'], { PROXY_PORT: '0', LOG_LEVEL: 'warn' })
  const getLine = await child.line(/^ {2}curl http:\/\/127\.0\.0\.1:\d+\/api\/v1\/balances\/current$/)
  const postLine = await child.line(/^ {2}curl -X POST .*\/api\/v1\/echo\//)
  const url = getLine.trim().replace(/^curl /, '')
  t.notMatch(url, ':0/', 'the bound port, not 0')
  const res = await request(url)
  t.equal(res.statusCode, 200)
  t.match(await res.body.json(), [{ currency: 'USD' }])
  const echoUrl = /(http:\/\/\S+)$/.exec(postLine)?.[1] as string
  const echo = await request(echoUrl, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{"hello":"roecny"}' })
  t.equal(echo.statusCode, 200)
  t.match(await echo.body.json(), { method: 'POST', bodyBytes: 18 })
  const reset = await request(url.replace('/api/v1/balances/current', '/api/v1/test/reset'))
  t.equal(reset.statusCode, 404, 'demo serves no fault route: Roecny\'s own 404 came back, not a reset')
  t.match(await reset.body.json(), { code: 'not_found' })
  child.process.kill('SIGINT')
  t.equal(await child.exited, 0)
})
