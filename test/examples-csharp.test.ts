// The example clients of examples/ for C# (Mono and the .NET SDK), through the demo (see test/helpers/examples.ts).
import { examplesSuite } from './helpers/examples.js'

await examplesSuite(['C#'])
