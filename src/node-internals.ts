// Node's private state, read in this one place: what no public API tells (test/node-internals.test.ts fails when Node changes it).
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Duplex } from 'node:stream'

/** The fields Node's HTTP server keeps on a connection's socket (lib/_http_server.js). */
interface HttpSocketState {
  /** The response being written or waiting its turn; null once the last one finished. Node's own clientError answer reads it too. */
  _httpMessage?: ServerResponse | null
  /** The connection's HTTP parser; `incoming` is the request it parses (its head read, its body perhaps not). */
  parser?: { incoming?: IncomingMessage | null } | null
}

/** The response the connection still owes its client, if any. Relies on `socket._httpMessage`. */
export function owedResponse (socket: Duplex): ServerResponse | null | undefined {
  return (socket as Duplex & HttpSocketState)._httpMessage
}

/** The request Node's parser last began on the connection, if any. Relies on `socket.parser.incoming`. */
export function parsedRequest (socket: Duplex): IncomingMessage | null | undefined {
  return (socket as Duplex & HttpSocketState).parser?.incoming
}
