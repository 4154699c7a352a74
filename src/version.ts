// The package's name and version, read once from package.json wherever the code runs from.
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

interface PackageInfo { name: string, version: string }

function findPackage (): PackageInfo {
  // src/version.ts runs from src/ in tests and from dist/src/ once built: walk up to our own package.json.
  let dir = dirname(fileURLToPath(import.meta.url))
  for (;;) {
    const file = join(dir, 'package.json')
    if (existsSync(file)) {
      const info = JSON.parse(readFileSync(file, 'utf8')) as PackageInfo
      if (info.name === 'roecny-auth-proxy') return info
    }
    const parent = dirname(dir)
    /* c8 ignore next -- only reached when the package is installed without its package.json */
    if (parent === dir) return { name: 'roecny-auth-proxy', version: '0.0.0' }
    dir = parent
  }
}

export const PACKAGE = findPackage()
export const VERSION = PACKAGE.version
