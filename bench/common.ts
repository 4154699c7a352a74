// What the bench processes agree on: credentials, the API answer, the paths the load uses.

export const BENCH_CLIENT_ID = 'bench-client'
export const BENCH_API_KEY = 'bench-key'
/** The token the floor and nginx attach; the proxy logs in for its own. */
export const STATIC_TOKEN = 'bench-static-token'
/** The API answer every load request gets: small, fixed, like a balance lookup. */
export const API_BODY = Buffer.from('{"balance":{"account":"bench","amount":"1234.56","currency":"EUR"}}')
/** What the load asks for: an API path with a query, as applications call it. */
export const LOAD_PATH = '/api/v1/balances/current?account=bench'
