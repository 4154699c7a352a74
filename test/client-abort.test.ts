import { connect } from 'node:net'
import { test } from 'tap'
import { startStack } from './helpers/stack.js'

test('a client that goes away cancels its upstream request', async (t) => {
  const stack = await startStack()
  t.teardown(stack.close)
  const { hostname, port } = new URL(stack.url)
  const socket = connect({ host: hostname, port: Number(port) })
  socket.write('GET /api/v1/test/held HTTP/1.1\r\nHost: localhost\r\n\r\n')
  // Wait until Roecny holds the request, then hang up before any answer.
  while (stack.mock.held.length === 0) await new Promise((resolve) => setImmediate(resolve))
  socket.destroy()
  await stack.mock.held[0]?.closed
  t.pass('the upstream request was closed when its client went away')
  const aborted = stack.logs.records().find((r) => r.msg === 'client went away')
  t.ok(aborted, 'the abort is logged')
})
