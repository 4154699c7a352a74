// The Node internals src/node-internals.ts reads, checked on a real connection: this fails the day Node changes them.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { IncomingMessage, ServerResponse } from 'node:http'
import { connect } from 'node:net'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { owedResponse, parsedRequest } from '../src/node-internals.js'

t.test('a connection\'s owed response and the request its parser reads', async (t) => {
  const server = createServer()
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  const client = connect((server.address() as AddressInfo).port, '127.0.0.1')
  t.teardown(() => { client.destroy() })

  // A request whose body has not all come: the parser is still in it, its answer not yet begun.
  client.write('POST /one HTTP/1.1\r\nhost: x\r\ncontent-length: 10\r\n\r\n12345')
  const [req, res] = await once(server, 'request') as [IncomingMessage, ServerResponse]
  t.equal(owedResponse(req.socket), res, '_httpMessage: the response the connection owes')
  t.equal(parsedRequest(req.socket), req, 'parser.incoming: the request being parsed')
  t.notOk(req.complete, 'its body still coming')

  // The body completes, the answer is written: nothing owed any more.
  client.write('67890')
  req.resume()
  await once(req, 'end')
  // Node's own 'finish' listener, added before this one, lets the socket go.
  const finished = once(res, 'finish')
  res.end('ok')
  await finished
  t.equal(owedResponse(req.socket), null, '_httpMessage: null once the answer finished')

  // The next request on the same connection is what the parser reads then.
  client.write('GET /two HTTP/1.1\r\nhost: x\r\n\r\n')
  const [next, nextRes] = await once(server, 'request') as [IncomingMessage, ServerResponse]
  t.equal(next.socket, req.socket, 'the same connection')
  t.equal(parsedRequest(next.socket), next)
  t.equal(owedResponse(next.socket), nextRes)
  nextRes.end()
})
