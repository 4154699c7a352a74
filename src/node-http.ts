// node:http through require(), never an ESM import: importing it makes Node 22 and later read every
// export, and the lazy WebSocket, CloseEvent and MessageEvent ones load Node's own bundled undici,
// about 13 MB resident that the proxy never uses (eslint.config.js keeps it that way).
import { createRequire } from 'node:module'
import type * as Http from 'node:http'

const http = createRequire(import.meta.url)('node:http') as typeof Http

export const { METHODS, STATUS_CODES, createServer, request } = http
