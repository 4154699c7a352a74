// A process that logs through the default logger (stdout in batches), then ends as argv[2] says:
// `exit` (process.exit), `crash` (an uncaught exception) or `drain` (the event loop empties).
// Its thread pool (one thread: UV_THREADPOOL_SIZE=1 from the parent) is kept busy the while, as a
// loaded machine would keep it: a write left to the pool would not have run when the process ends.
import { pbkdf2 } from 'node:crypto'
import { createLogger } from '../../src/log.js'

const [mode = 'exit', count = '50'] = process.argv.slice(2)
pbkdf2('busy', 'pool', 200_000, 32, 'sha256', () => {})
const log = createLogger('info')
for (let i = 0; i < Number(count); i++) log.info({ i }, 'line')
if (mode === 'exit') process.exit(3)
if (mode === 'crash') throw new Error('crashed on purpose')
