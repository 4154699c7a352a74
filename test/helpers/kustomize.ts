// The kustomize layout of deploy/kubernetes as `kubectl apply -k` assembles it, for the subset the layout
// uses (resources, components, strategic-merge and JSON patches), and the "Run it" steps of the docs, run
// by bash with kubectl and docker recorded instead of reaching a cluster.
import { execFile } from 'node:child_process'
import { chmodSync, existsSync, readdirSync, readFileSync, realpathSync, statSync, writeFileSync } from 'node:fs'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parse, parseAllDocuments } from 'yaml'

export const ROOT = fileURLToPath(new URL('../../', import.meta.url))
export const KUBERNETES = join(ROOT, 'deploy/kubernetes')

/** A Kubernetes object as plain data. */
export interface K8sObject {
  apiVersion: string
  kind: string
  metadata: { name: string, [key: string]: unknown }
  [key: string]: unknown
}

interface Kustomization {
  apiVersion: string
  kind: 'Kustomization' | 'Component'
  resources?: string[]
  components?: string[]
  patches?: Array<{ path: string, target?: { kind: string, name: string } }>
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json }
type JsonObject = { [key: string]: Json }

/** Kubernetes reads YAML 1.1: `defaultMode: 0440` is octal there. */
export function readYaml (file: string): unknown[] {
  return parseAllDocuments(readFileSync(file, 'utf8'), { version: '1.1' }).map((doc) => doc.toJS() as unknown)
}

/** The fields a kustomization here may use: a file with others needs a real kustomize to assemble. */
const KUSTOMIZATION_FIELDS = new Set(['apiVersion', 'kind', 'resources', 'components', 'patches'])

export function readKustomization (dir: string): Kustomization {
  const kustomization = parse(readFileSync(join(dir, 'kustomization.yaml'), 'utf8')) as Kustomization
  const unknown = Object.keys(kustomization).filter((field) => !KUSTOMIZATION_FIELDS.has(field))
  if (unknown.length > 0) throw new Error(`${relative(ROOT, dir)}/kustomization.yaml: fields this test cannot assemble: ${unknown.join(', ')}`)
  return kustomization
}

/**
 * Strategic merge as the API server does it for the lists this layout patches: lists of containers,
 * volumes and env entries merge by their key; other lists are replaced; maps merge.
 */
const MERGE_KEYS: Record<string, string> = {
  containers: 'name',
  initContainers: 'name',
  env: 'name',
  volumes: 'name',
  volumeMounts: 'mountPath',
  ports: 'containerPort',
  topologySpreadConstraints: 'topologyKey'
}

function isObject (value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
}

export function strategicMerge (target: Json, patch: Json, field = ''): Json {
  if (Array.isArray(patch)) {
    const key = MERGE_KEYS[field]
    if (key === undefined || !Array.isArray(target)) return patch
    const merged = [...target]
    for (const item of patch) {
      const at = isObject(item) ? merged.findIndex((existing) => isObject(existing) && existing[key] === item[key]) : -1
      if (at === -1) merged.push(item)
      else merged[at] = strategicMerge(merged[at] as Json, item, '')
    }
    return merged
  }
  if (!isObject(patch) || !isObject(target)) return patch
  const merged: JsonObject = { ...target }
  for (const [name, value] of Object.entries(patch)) merged[name] = name in target ? strategicMerge(target[name] as Json, value, name) : value
  return merged
}

interface JsonPatchOp { op: 'add' | 'replace' | 'remove' | 'test', path: string, value?: Json }

/** RFC 6902 for the operations this layout uses. */
export function jsonPatch (target: Json, ops: JsonPatchOp[]): Json {
  const doc = structuredClone(target)
  for (const { op, path, value } of ops) {
    const segments = path.split('/').slice(1).map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'))
    const last = segments.pop() as string
    let parent: Json = doc
    for (const segment of segments) {
      parent = (Array.isArray(parent) ? parent[Number(segment)] : isObject(parent) ? parent[segment] : undefined) as Json
      if (parent === undefined) throw new Error(`JSON patch ${op} ${path}: no ${segment}`)
    }
    if (!isObject(parent) && !Array.isArray(parent)) throw new Error(`JSON patch ${op} ${path}: not a container`)
    const container = parent as Record<string, Json>
    if (op !== 'add' && !(last in container)) throw new Error(`JSON patch ${op} ${path}: nothing there`)
    if (op === 'test') {
      if (JSON.stringify(container[last]) !== JSON.stringify(value)) throw new Error(`JSON patch test ${path}: ${JSON.stringify(container[last])} is not ${JSON.stringify(value)}`)
    } else if (op === 'remove') {
      if (Array.isArray(container)) container.splice(Number(last), 1)
      else delete container[last]
    } else {
      container[last] = value as Json
    }
  }
  return doc
}

function applyPatches (objects: K8sObject[], dir: string, kustomization: Kustomization): K8sObject[] {
  let result = objects
  for (const { path, target } of kustomization.patches ?? []) {
    const file = join(dir, path)
    if (!resolve(file).startsWith(resolve(dir) + '/')) throw new Error(`${path}: kustomize loads patches only from within ${relative(ROOT, dir)}`)
    const [patch] = readYaml(file) as [Json]
    if (Array.isArray(patch)) {
      if (target === undefined) throw new Error(`${path}: a JSON patch needs a target`)
      const hits = result.filter((o) => o.kind === target.kind && o.metadata.name === target.name)
      if (hits.length !== 1) throw new Error(`${path}: ${hits.length} objects match ${target.kind}/${target.name}`)
      result = result.map((o) => hits.includes(o) ? jsonPatch(o as unknown as Json, patch as unknown as JsonPatchOp[]) as unknown as K8sObject : o)
    } else {
      const meta = patch as unknown as K8sObject
      const hits = result.filter((o) => o.kind === meta.kind && o.metadata.name === meta.metadata.name)
      if (hits.length !== 1) throw new Error(`${path}: ${hits.length} objects match ${meta.kind}/${meta.metadata.name}`)
      result = result.map((o) => hits.includes(o) ? strategicMerge(o as unknown as Json, patch) as unknown as K8sObject : o)
    }
  }
  return result
}

/** `kubectl kustomize DIR`: the objects of a Kustomization with its components and patches applied. */
export function assemble (dir: string, extraComponents: string[] = []): K8sObject[] {
  const kustomization = readKustomization(dir)
  if (kustomization.kind !== 'Kustomization') throw new Error(`${relative(ROOT, dir)} is a ${kustomization.kind}, not a Kustomization`)
  let objects: K8sObject[] = []
  for (const resource of kustomization.resources ?? []) {
    const path = join(dir, resource)
    if (statSync(path).isDirectory()) objects.push(...assemble(path))
    else objects.push(...readYaml(path) as K8sObject[])
  }
  for (const component of [...kustomization.components ?? [], ...extraComponents]) {
    const componentDir = join(dir, component)
    const own = readKustomization(componentDir)
    if (own.kind !== 'Component') throw new Error(`${component} is not a Component`)
    objects = applyPatches(objects, componentDir, own)
  }
  objects = applyPatches(objects, dir, kustomization)
  const names = objects.map((o) => `${o.kind}/${o.metadata.name}`)
  const twice = names.filter((name, i) => names.indexOf(name) !== i)
  if (twice.length > 0) throw new Error(`${relative(ROOT, dir)}: ${twice.join(', ')} defined twice`)
  return objects
}

/** The directories under deploy/kubernetes holding a kustomization.yaml of the given kind. */
export function layouts (kind: Kustomization['kind']): string[] {
  return readdirSync(KUBERNETES, { withFileTypes: true })
    .filter((entry) => entry.isDirectory() && existsSync(join(KUBERNETES, entry.name, 'kustomization.yaml')))
    .map((entry) => entry.name)
    .filter((name) => readKustomization(join(KUBERNETES, name)).kind === kind)
    .sort()
}

/** The ```sh block under the heading `## Run it: NAME` of a Markdown file, or undefined. */
export function runItSteps (markdownFile: string, name: string): string | undefined {
  const text = readFileSync(markdownFile, 'utf8')
  const heading = `## Run it: ${name}\n`
  const at = text.indexOf(heading)
  if (at === -1) return undefined
  const block = /```sh\n([\s\S]*?)```/.exec(text.slice(at + heading.length).split(/\n## /)[0] ?? '')
  return block?.[1]
}

/** What the steps did: the objects kubectl created, `apply -k` directories and `docker build` tags. */
export interface Recorded {
  secrets: Record<string, Record<string, string>>
  configMaps: Record<string, Record<string, string>>
  applied: string[]
  built: string[]
  other: string[][]
}

// kubectl and docker as the steps call them: `create secret generic` and `create configmap` record their
// data (files are read when the command runs, as kubectl does), everything else its arguments.
const RECORDER = `
import { appendFileSync, readFileSync } from 'node:fs'
const [tool, ...args] = process.argv.slice(2)
const entry = { tool, args }
const create = tool === 'kubectl' && args[0] === 'create'
  ? (args[1] === 'secret' && args[2] === 'generic' ? { kind: 'secret', name: args[3], rest: args.slice(4) } : args[1] === 'configmap' ? { kind: 'configmap', name: args[2], rest: args.slice(3) } : undefined)
  : undefined
if (create !== undefined) {
  entry.create = { kind: create.kind, name: create.name, data: {} }
  for (const arg of create.rest) {
    const literal = /^--from-literal=([^=]+)=(.*)$/s.exec(arg)
    const file = /^--from-file=([^=]+)=(.*)$/s.exec(arg)
    if (literal) entry.create.data[literal[1]] = literal[2]
    else if (file) entry.create.data[file[1]] = readFileSync(file[2], 'utf8')
    else { console.error('recorder: unexpected argument ' + arg); process.exit(2) }
  }
}
appendFileSync(process.env.RECORDED_CALLS, JSON.stringify(entry) + '\\n')
`

function execBash (script: string, cwd: string, env: NodeJS.ProcessEnv): Promise<{ code: number, stderr: string }> {
  return new Promise((resolve) => {
    execFile('bash', ['-euo', 'pipefail', '-c', script], { cwd, env, timeout: 60_000 }, (error, _stdout, stderr) => {
      resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : -1, stderr })
    })
  })
}

/** Runs the steps with bash in `work` (which holds a `deploy` link to this repository's), kubectl and docker recorded. */
export async function runSteps (steps: string, work: string, env: Record<string, string>): Promise<Recorded> {
  const bin = join(work, 'bin')
  const recorder = join(work, 'recorder.mjs')
  const calls = join(work, 'calls.jsonl')
  writeFileSync(recorder, RECORDER)
  writeFileSync(calls, '')
  for (const tool of ['kubectl', 'docker']) {
    const stub = join(bin, tool)
    writeFileSync(stub, `#!/bin/sh\nexec "${process.execPath}" "${recorder}" ${tool} "$@"\n`)
    chmodSync(stub, 0o755)
  }
  const { code, stderr } = await execBash(steps, work, { PATH: `${bin}:${process.env.PATH ?? ''}`, HOME: work, RECORDED_CALLS: calls, ...env })
  if (code !== 0) throw new Error(`the steps failed (exit ${code}): ${stderr}`)
  const recorded: Recorded = { secrets: {}, configMaps: {}, applied: [], built: [], other: [] }
  for (const line of readFileSync(calls, 'utf8').split('\n').filter((l) => l !== '')) {
    const entry = JSON.parse(line) as { tool: string, args: string[], create?: { kind: string, name: string, data: Record<string, string> } }
    if (entry.create !== undefined) {
      const into = entry.create.kind === 'secret' ? recorded.secrets : recorded.configMaps
      if (entry.create.name in into) throw new Error(`${entry.create.kind} ${entry.create.name} created twice`)
      into[entry.create.name] = entry.create.data
    } else if (entry.tool === 'kubectl' && entry.args[0] === 'apply' && entry.args[1] === '-k') {
      recorded.applied.push(relative(ROOT, realpathSync(resolve(work, entry.args[2] as string))))
    } else if (entry.tool === 'docker' && entry.args[0] === 'build') {
      const tag = entry.args[entry.args.indexOf('-t') + 1]
      if (tag !== undefined) recorded.built.push(tag)
    } else {
      recorded.other.push([entry.tool, ...entry.args])
    }
  }
  return recorded
}
