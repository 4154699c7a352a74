// 204 and 304 from Roecny reach the client as they are, without a body, whatever Content-Length they carry.
import t from 'tap'
import { headerOf, readResponses } from './helpers/http-framing.js'
import type { ParsedResponse } from './helpers/http-framing.js'
import { openRaw } from './helpers/raw-client.js'
import { startStack } from './helpers/stack.js'

t.test('a 304 or 204 that states a Content-Length is passed on, not turned into a 500', async (t) => {
  const stack = await startStack(t, { mock: { faultRoutes: true } })
  const answers: Array<[string, number, string | undefined]> = [
    // The mock states the length of the JSON it did not send, as a server may for a 304.
    ['/api/v1/test/status/304', 304, undefined],
    ['/api/v1/test/status/204', 204, undefined],
    [stack.mock.rawAnswer('HTTP/1.1 304 Not Modified\r\netag: "v1"\r\ncontent-length: 1234\r\nconnection: close\r\n\r\n'), 304, '"v1"']
  ]
  for (const [target, status, etag] of answers) {
    for (const method of ['GET', 'HEAD']) {
      const connection = await openRaw(stack.url)
      connection.socket.write(`${method} ${target} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n`)
      const read = readResponses(Buffer.from(await connection.closed, 'latin1'), [method], true)
      t.equal(read.malformed, undefined, `${method} ${target}: well-formed`)
      t.equal(read.responses.length, 1, `${method} ${target}: one answer`)
      const response = read.responses[0] as ParsedResponse
      t.equal(response.status, status, `${method} ${target}: ${status}`)
      t.equal(headerOf(response, 'x-roecny-proxy-error'), undefined, `${method} ${target}: Roecny's answer, not the proxy's error`)
      if (etag !== undefined) t.equal(headerOf(response, 'etag'), etag, 'its headers with it')
      if (target.includes('/fault/')) break
    }
  }
  const next = await openRaw(stack.url)
  next.socket.write('GET /api/v1/balances/current HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n')
  t.equal(readResponses(Buffer.from(await next.closed, 'latin1'), ['GET'], true).responses[0]?.status, 200, 'the next request is served')
})
