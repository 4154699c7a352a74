// Node's module compile cache (Node 22.1 and later), on before the proxy's dependencies load: a start
// then reads their compiled code from the cache instead of compiling it again. Imported first by the CLI.
import module from 'node:module'

// The cache goes where NODE_COMPILE_CACHE says (the image ships one), else to a directory under the
// system's temporary directory; where it cannot be written (a read-only root file system), Node goes on without it.
const { enableCompileCache } = module as { enableCompileCache?: () => unknown }
/* c8 ignore next -- Node 20 has no compile cache; the suite runs on Node 24 and on Node 20, each covering one side */
if (enableCompileCache !== undefined) enableCompileCache()
