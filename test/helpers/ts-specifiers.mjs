// Lets t.mockImport()'s mocks reach the modules a mocked module imports. @tapjs/mock resolves those
// imports itself and finds `./x.js` only where that file exists; here it is the `./x.ts` source the
// runner compiles, so the specifier is turned into the source's before @tapjs/mock sees it.
import { existsSync } from 'node:fs'
import { register } from 'node:module'
import { isMainThread } from 'node:worker_threads'

/** A resolve hook: a relative `.js` import that exists only as `.ts` is asked for as `.ts`. */
export async function resolve (specifier, context, nextResolve) {
  const parent = context.parentURL
  if (parent?.startsWith('file:') && /^\.\.?\/.*\.js$/.test(specifier) && !existsSync(new URL(specifier, parent))) {
    const source = specifier.replace(/\.js$/, '.ts')
    if (existsSync(new URL(source, parent))) return nextResolve(source, context)
  }
  return nextResolve(specifier, context)
}

// Loaded with --import on the main thread it registers itself; loaded again as a hooks module it only exports.
if (isMainThread) register(import.meta.url)
