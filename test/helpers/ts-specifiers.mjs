// Lets t.mockImport()'s mocks reach the modules a mocked module imports. @tapjs/mock resolves those
// imports itself and finds `./x.js` only where that file exists; here it is the `./x.ts` source the
// runner compiles, so the specifier is turned into the source's before @tapjs/mock sees it.
import { existsSync } from 'node:fs'
import module from 'node:module'
import { isMainThread } from 'node:worker_threads'

/** The specifier to ask for: a relative `.js` import that exists only as `.ts` becomes the `.ts` one. */
function sourceOf (specifier, parent) {
  if (parent?.startsWith('file:') && /^\.\.?\/.*\.js$/.test(specifier) && !existsSync(new URL(specifier, parent))) {
    const source = specifier.replace(/\.js$/, '.ts')
    if (existsSync(new URL(source, parent))) return source
  }
  return specifier
}

/** The asynchronous resolve hook (Node 20). */
export async function resolve (specifier, context, nextResolve) {
  return nextResolve(sourceOf(specifier, context.parentURL), context)
}

// Where Node has synchronous hooks (22.15 and later) @tapjs/mock uses them, so this hook joins that
// chain; elsewhere, loaded with --import on the main thread, it registers itself as a hooks module
// (loaded again as one, it only exports).
if (typeof module.registerHooks === 'function') {
  module.registerHooks({ resolve: (specifier, context, nextResolve) => nextResolve(sourceOf(specifier, context.parentURL), context) })
} else if (isMainThread) {
  module.register(import.meta.url)
}
