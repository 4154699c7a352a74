import { test } from 'tap'
import { classifyUpstreamError } from '../src/proxy/forward.js'

function coded (message: string, code: string | undefined, cause?: Error): Error {
  const error = new Error(message, { cause }) as NodeJS.ErrnoException
  if (code !== undefined) error.code = code
  return error
}

test('reply-from wrappers are looked through to the cause', (t) => {
  t.same(classifyUpstreamError(coded('Gateway Timeout', 'FST_REPLY_FROM_GATEWAY_TIMEOUT', coded('Headers Timeout Error', 'UND_ERR_HEADERS_TIMEOUT'))),
    { proxyCode: 'PROXY_UPSTREAM_TIMEOUT', cause: 'UND_ERR_HEADERS_TIMEOUT' })
  t.same(classifyUpstreamError(coded('connect ECONNREFUSED', 'FST_REPLY_FROM_INTERNAL_SERVER_ERROR', coded('refused', 'ECONNREFUSED'))),
    { proxyCode: 'PROXY_UPSTREAM_UNREACHABLE', cause: 'ECONNREFUSED' })
  t.same(classifyUpstreamError(coded('self-signed', 'DEPTH_ZERO_SELF_SIGNED_CERT')),
    { proxyCode: 'PROXY_UPSTREAM_UNREACHABLE', cause: 'DEPTH_ZERO_SELF_SIGNED_CERT' })
  t.same(classifyUpstreamError(coded('connect timeout', 'UND_ERR_CONNECT_TIMEOUT')),
    { proxyCode: 'PROXY_UPSTREAM_TIMEOUT', cause: 'UND_ERR_CONNECT_TIMEOUT' })
  t.same(classifyUpstreamError(coded('no code at all', undefined)), { proxyCode: 'PROXY_UPSTREAM_UNREACHABLE', cause: undefined })
  t.same(classifyUpstreamError('not even an error'), { proxyCode: 'PROXY_UPSTREAM_UNREACHABLE', cause: undefined })
  t.end()
})
