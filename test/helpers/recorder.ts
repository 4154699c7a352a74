// A waiter of the upstream limits for tests: it records what it heard, in order, beside the others'.
import type { Lease, Refusal, Ticket, Waiter } from '../../src/limits/limiter.js'

/** A waiter that records what it heard. */
export class Recorder implements Waiter {
  readonly name: string
  readonly heard: string[]
  lease: Lease | undefined
  waitedMs: number | undefined
  refusal: { reason: Refusal, retryAfterSeconds: number } | undefined
  ticket: Ticket | undefined

  constructor (name: string, heard: string[]) {
    this.name = name
    this.heard = heard
  }

  granted (lease: Lease, waitedMs: number): void {
    this.heard.push(`${this.name} granted`)
    this.lease = lease
    this.waitedMs = waitedMs
  }

  refused (reason: Refusal, retryAfterSeconds: number): void {
    this.heard.push(`${this.name} refused: ${reason}`)
    this.refusal = { reason, retryAfterSeconds }
  }
}
