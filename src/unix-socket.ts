// The Unix socket listener: a stale socket file from a crashed run is replaced, the socket has its mode before anyone can reach it.
import { rmSync } from 'node:fs'
import { chmod, lstat, mkdtemp, rename, rm, unlink } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { connect } from 'node:net'
import type { FastifyInstance } from 'fastify'

/** Whether a server accepts connections on the socket file at `path`. */
function answers (path: string): Promise<boolean> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path })
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', (err: NodeJS.ErrnoException) => {
      // Refused: the file outlived its server. Anything else (no permission, ...): do not guess.
      if (err.code === 'ECONNREFUSED') resolve(false)
      else reject(new Error(`PROXY_SOCKET ${path} cannot be checked (${err.code})`))
    })
  })
}

/**
 * Makes `path` free to listen on. A socket file no server answers on is what a crashed run leaves
 * behind, and is removed; a socket a live server holds, or any other kind of file, is an error:
 * replacing it would cut off another server or destroy someone's file.
 */
export async function clearStaleSocket (path: string): Promise<void> {
  let isSocket: boolean
  try {
    isSocket = (await lstat(path)).isSocket()
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
    throw new Error(`PROXY_SOCKET ${path} cannot be checked (${(err as NodeJS.ErrnoException).code})`)
  }
  if (!isSocket) throw new Error(`PROXY_SOCKET ${path} exists and is not a socket; not replacing it`)
  if (await answers(path)) throw new Error(`PROXY_SOCKET ${path} is in use by a running server`)
  await unlink(path)
}

/**
 * Listens on the Unix socket at `path` with file mode `mode`, never reachable with a wider mode, not
 * even briefly, and without touching the process's umask: the socket is made in a new directory
 * beside `path` that only this user may enter (mkdtemp: 0700), given its mode there, then renamed to
 * `path` (a rename keeps the bound socket). The file is removed when the server closes.
 */
export async function listenOnSocket (app: FastifyInstance, path: string, mode: number): Promise<string> {
  await clearStaleSocket(path)
  const dir = await mkdtemp(join(dirname(path), '.sock-'))
  try {
    const made = join(dir, 's')
    await app.listen({ path: made, listenTextResolver: () => `Server listening at unix:${path}` })
    await chmod(made, mode)
    await rename(made, path)
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
  app.server.once('close', () => { rmSync(path, { force: true }) })
  return `unix:${path}`
}
