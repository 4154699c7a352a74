import neostandard from 'neostandard'

export default [
  ...neostandard({
    ts: true,
    ignores: ['dist/**', 'coverage/**', '.tap/**', 'node_modules/**']
  }),
  {
    // What the proxy and the bench load: src/node-http.ts says why node:http is required, not imported.
    files: ['src/**/*.ts', 'bench/**/*.ts'],
    rules: {
      '@typescript-eslint/no-restricted-imports': ['error', {
        paths: ['node:http', 'http'].map((name) => ({
          name,
          allowTypeImports: true,
          message: 'an ESM import of node:http loads Node\'s bundled undici (about 13 MB); take it from src/node-http.ts'
        }))
      }]
    }
  }
]
