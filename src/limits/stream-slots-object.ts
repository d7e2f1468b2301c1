/**
 * Open streams per API key, counted across every isolate: a Durable Object per key holds a lease
 * per open stream. A stream renews its lease while it runs and releases it when it ends; a lease
 * whose isolate died without releasing it lapses after LEASE_MS, so a crash cannot hold a slot forever.
 */
import { DurableObject } from "cloudflare:workers";

const LEASE_MS = 60_000;

export class StreamSlots extends DurableObject {
  /** Takes (or renews) a slot for `stream` unless `limit` unexpired leases are held: the lease's length in ms, or null. */
  async acquire(stream: string, limit: number): Promise<number | null> {
    const now = Date.now();
    const leases = new Map(Object.entries((await this.ctx.storage.get<Record<string, number>>("leases")) ?? {}).filter(([, until]) => until > now));
    if (!leases.has(stream) && leases.size >= limit) return null;
    leases.set(stream, now + LEASE_MS);
    await this.ctx.storage.put("leases", Object.fromEntries(leases));
    return LEASE_MS;
  }

  async release(stream: string): Promise<void> {
    const leases = (await this.ctx.storage.get<Record<string, number>>("leases")) ?? {};
    delete leases[stream];
    await this.ctx.storage.put("leases", leases);
  }
}
