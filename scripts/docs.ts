// `npm run docs`: regenerates docs/configuration.md (test/docs-configuration.test.ts fails while it is stale).
import { fileURLToPath } from 'node:url'
import { writeConfigurationDoc } from './config-docs.js'

// Run from dist/scripts/ once built: the package's root is two folders up.
writeConfigurationDoc(fileURLToPath(new URL('../../', import.meta.url)))
