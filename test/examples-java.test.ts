// The example clients of examples/ for Java, through the demo (see test/helpers/examples.ts).
import { examplesSuite } from './helpers/examples.js'

await examplesSuite(['Java'])
