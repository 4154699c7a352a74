// The access keys a caller may present in `x-proxy-key`: compared as SHA-256 digests in constant time, replaceable at run time.
import { hash, timingSafeEqual } from 'node:crypto'

/** One-shot SHA-256 (no Hash object per request); both sides hash the JS string the same way. */
function digest (key: string): Buffer {
  return hash('sha256', key, 'buffer') as unknown as Buffer // @types/node 20 types the result as a string whatever the encoding
}

/**
 * Several keys may be valid at once, so a key can be rolled over: add the new one, move the
 * clients, remove the old one. A replacement applies to the next request.
 */
export class AccessKeys {
  #digests: readonly Buffer[]

  constructor (keys: readonly string[]) {
    this.#digests = keys.map(digest)
  }

  /** True when at least one key is set, i.e. callers must present one. */
  get required (): boolean {
    return this.#digests.length > 0
  }

  replace (keys: readonly string[]): void {
    this.#digests = keys.map(digest)
  }

  /**
   * Hashing first makes each comparison constant-time whatever the lengths; every digest is
   * compared, so the time says nothing about which key matched, or how many there are but one.
   * Called on every proxied request: one hash, no other allocation.
   */
  accepts (given: string | string[] | undefined): boolean {
    if (typeof given !== 'string') return false
    const presented = digest(given)
    const digests = this.#digests
    let accepted = false
    for (let i = 0; i < digests.length; i++) accepted = timingSafeEqual(presented, digests[i] as Buffer) || accepted
    return accepted
  }
}
