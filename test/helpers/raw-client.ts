// A raw TCP or Unix-socket client that hangs up in every way a hostile one can: gracefully, half-closed, cut short, or with a TCP reset.
import { connect } from 'node:net'
import type { Socket } from 'node:net'

export interface RawConnection {
  readonly socket: Socket
  /** Everything received so far, as Latin-1 text. */
  received: () => string
  /** Resolves once `predicate` holds for what was received; rejects when the connection closes first or after `ms`. */
  waitFor: (predicate: (received: string) => boolean, what: string, ms?: number) => Promise<string>
  /** Resolves with everything received once the connection is closed (by either side). */
  readonly closed: Promise<string>
  /** Closes with a TCP reset (SO_LINGER 0) instead of a FIN. */
  reset: () => void
}

const DEFAULT_WAIT_MS = 5000

export interface RawOptions {
  /** Read nothing: what the server sends stays unread in the kernel. */
  paused?: boolean
  /** Keep our side open when the server closes its side, instead of closing too. */
  holdOpen?: boolean
}

/** Opens a connection to `http://host:port` or `unix:/path` and resolves once it is established. */
export function openRaw (url: string, options: RawOptions = {}): Promise<RawConnection> {
  const allowHalfOpen = options.holdOpen === true
  const socket = url.startsWith('unix:')
    ? connect({ path: url.slice(5), allowHalfOpen })
    : connect({ host: new URL(url).hostname, port: Number(new URL(url).port), allowHalfOpen })
  if (options.paused === true) socket.pause()
  const chunks: Buffer[] = []
  const watchers = new Set<() => void>()
  socket.on('data', (chunk: Buffer) => {
    chunks.push(chunk)
    for (const watcher of watchers) watcher()
  })
  // A reset by either side is one of the endings under test, not a failure of the test.
  socket.on('error', () => {})
  const text = (): string => Buffer.concat(chunks).toString('latin1')
  const closed = new Promise<string>((resolve) => socket.once('close', () => {
    for (const watcher of watchers) watcher()
    resolve(text())
  }))

  function waitFor (predicate: (received: string) => boolean, what: string, ms = DEFAULT_WAIT_MS): Promise<string> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => finish(new Error(`gave up waiting for ${what}; received ${JSON.stringify(text().slice(0, 200))}`)), ms)
      function finish (error?: Error): void {
        clearTimeout(timer)
        watchers.delete(check)
        if (error === undefined) resolve(text())
        else reject(error)
      }
      function check (): void {
        if (predicate(text())) finish()
        else if (socket.destroyed) finish(new Error(`connection closed before ${what}; received ${JSON.stringify(text().slice(0, 200))}`))
      }
      watchers.add(check)
      check()
    })
  }

  return new Promise((resolve, reject) => {
    socket.once('connect', () => {
      socket.off('error', reject)
      resolve({ socket, received: text, waitFor, closed, reset: () => socket.resetAndDestroy() })
    })
    socket.once('error', reject)
  })
}

/** True once `received` holds a whole HTTP head (status line and headers). */
export function hasHead (received: string): boolean {
  return received.includes('\r\n\r\n')
}

/** `promise`, or a failure after `ms` of real time. */
export async function within<T> (promise: Promise<T>, what: string, ms = DEFAULT_WAIT_MS): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const deadline = new Promise<never>((_resolve, reject) => { timer = setTimeout(() => reject(new Error(`gave up waiting for ${what}`)), ms) })
  try {
    return await Promise.race([promise, deadline])
  } finally {
    clearTimeout(timer)
  }
}
