// The example clients of examples/ for Python and Node, through the demo (see test/helpers/examples.ts).
import { examplesSuite } from './helpers/examples.js'

await examplesSuite(['Python', 'Node'])
