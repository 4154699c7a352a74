// `npm run docs`: regenerates docs/configuration.md and the latest run of docs/performance.md
// (test/docs-configuration.test.ts and test/docs-performance.test.ts fail while either is stale).
import { fileURLToPath } from 'node:url'
import { contenderTable } from '../bench/report.js'
import { writeConfigurationDoc } from './config-docs.js'
import { writePerformanceDoc } from './performance-docs.js'

// Run from dist/scripts/ once built: the package's root is two folders up.
const root = fileURLToPath(new URL('../../', import.meta.url))
writeConfigurationDoc(root)
writePerformanceDoc(root, contenderTable)
