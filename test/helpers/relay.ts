// A TCP relay on loopback that passes bytes through unchanged and notes which requests asked for, and got, a 100 Continue.
import { connect, createServer } from 'node:net'
import type { AddressInfo, Socket } from 'node:net'

export interface Relay {
  /** `http://127.0.0.1:port` of the relay. */
  readonly url: string
  /** Request heads the clients sent with `Expect: 100-continue`, so far. */
  readonly expects: () => number
  /** `100 Continue` interim answers the server sent, so far. */
  readonly continues: () => number
  /** Socket errors the relay saw (`client ECONNRESET`, `server ECONNREFUSED`), to explain a failed run. */
  readonly errors: string[]
  close: () => Promise<void>
}

const EXPECT = /\r\nexpect:[ \t]*100-continue[ \t]*\r\n/gi
const CONTINUE = /HTTP\/1\.1 100 Continue\r\n/g

/** Counts matches in a byte stream, also across chunk boundaries: the unmatched end of a chunk is kept for the next. */
function counter (pattern: RegExp): { feed: (chunk: Buffer) => void, count: () => number } {
  let tail = ''
  let count = 0
  return {
    feed (chunk) {
      const text = tail + chunk.toString('latin1')
      let end = 0
      pattern.lastIndex = 0
      for (let match = pattern.exec(text); match !== null; match = pattern.exec(text)) {
        count++
        end = pattern.lastIndex
      }
      // Never a part that matched (it would count twice), and enough for a head line cut in two.
      tail = text.slice(Math.max(end, text.length - 64))
    },
    count: () => count
  }
}

export async function startRelay (target: string): Promise<Relay> {
  const { hostname, port } = new URL(target)
  const expects = counter(EXPECT)
  const continues = counter(CONTINUE)
  const sockets = new Set<Socket>()
  const errors: string[] = []
  const server = createServer((client) => {
    const upstream = connect({ host: hostname, port: Number(port) })
    for (const [side, socket] of [['client', client], ['server', upstream]] as const) {
      sockets.add(socket)
      socket.on('close', () => sockets.delete(socket))
      // Either side failing ends the other, as a broken connection would.
      socket.on('error', (err: NodeJS.ErrnoException) => {
        errors.push(`${side} ${err.code ?? err.message}`)
        client.destroy()
        upstream.destroy()
      })
    }
    client.on('data', expects.feed)
    upstream.on('data', continues.feed)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    expects: expects.count,
    continues: continues.count,
    errors,
    async close () {
      for (const socket of sockets) socket.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    }
  }
}
