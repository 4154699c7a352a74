// undici, through its entry point: the dispatchers the upstream pool is built from.
export { Dispatcher, Pool } from 'undici'
