import { connect } from 'node:net'
import { test } from 'tap'
import type { MockRoecny } from '../src/mock/roecny.js'
import { startStack } from './helpers/stack.js'
import { until } from './helpers/until.js'

test('a client that goes away cancels its upstream request', async (t) => {
  const stack = await startStack(t)
  const { hostname, port } = new URL(stack.url)
  const socket = connect({ host: hostname, port: Number(port) })
  socket.write('GET /api/v1/test/held HTTP/1.1\r\nHost: localhost\r\n\r\n')
  // Wait until Roecny holds the request, then hang up before any answer.
  await until(() => stack.mock.held.length > 0, 'the request to be held at the mock')
  const events: string[] = []
  const upstream = stack.mock.held[0] as MockRoecny['held'][number]
  const upstreamClosed = upstream.closed.then(() => events.push('upstream request closed'))
  socket.on('close', () => events.push('client gone'))
  socket.destroy()
  await until(() => events.includes('upstream request closed'), 'the upstream request to close')
  await upstreamClosed
  t.same(events, ['client gone', 'upstream request closed'], 'the upstream request was closed when its client went away')
  const aborted = stack.logs.records().find((r) => r.msg === 'client went away')
  t.match(aborted, { method: 'GET', path: '/api/v1/test/held', aborted: true }, 'the abort is logged')
})
