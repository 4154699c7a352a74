// node:http through require() (public API), never an ESM import: importing it makes Node 22 and later
// read every export, and the lazy WebSocket, CloseEvent and MessageEvent ones load Node's own bundled
// undici, about 13 MB resident and its load time. The healthcheck, a process the image starts every
// 15 s, needs none of it (serve loads it anyway, through undici's entry point); eslint.config.js keeps it so.
import { createRequire } from 'node:module'
import type * as Http from 'node:http'

const http = createRequire(import.meta.url)('node:http') as typeof Http

export const { METHODS, STATUS_CODES, createServer, request } = http
