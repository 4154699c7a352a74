// Loaded with --import into a process started as users start the CLI: prints V8's flags hash, node's
// own options and NODE_OPTIONS on stderr, so a test can compare them with a node started by hand.
import { cachedDataVersionTag } from 'node:v8'

process.stderr.write(`v8-flags ${JSON.stringify({ script: process.argv[1], tag: cachedDataVersionTag(), execArgv: process.execArgv, nodeOptions: process.env.NODE_OPTIONS ?? '' })}\n`)
