// A process that logs through the default logger (stdout in batches), then ends as argv[2] says:
// `exit` (process.exit), `crash` (an uncaught exception) or `drain` (the event loop empties).
import { createLogger } from '../../src/log.js'

const [mode = 'exit', count = '50'] = process.argv.slice(2)
const log = createLogger('info')
for (let i = 0; i < Number(count); i++) log.info({ i }, 'line')
if (mode === 'exit') process.exit(3)
if (mode === 'crash') throw new Error('crashed on purpose')
