// The example clients of examples/ for curl, and curl's uploads, through the demo (see test/helpers/examples.ts).
import { examplesSuite } from './helpers/examples.js'

await examplesSuite(['curl'], true)
