/**
 * Open streams per API key, counted across every isolate: a Durable Object per key holds a lease
 * per open stream. A stream renews its lease while it runs and releases it when it ends; a lease
 * whose isolate died without releasing it lapses after LEASE_MS, so a crash cannot hold a slot forever.
 */
import { DurableObject } from "cloudflare:workers";
import { IngestError } from "../errors.ts";

const LEASE_MS = 60_000;

export class StreamSlots extends DurableObject {
  /** Takes a slot for `stream` unless `limit` unexpired leases are held. */
  async acquire(stream: string, limit: number): Promise<boolean> {
    const now = Date.now();
    const leases = new Map(Object.entries((await this.ctx.storage.get<Record<string, number>>("leases")) ?? {}).filter(([, until]) => until > now));
    if (!leases.has(stream) && leases.size >= limit) return false;
    leases.set(stream, now + LEASE_MS);
    await this.ctx.storage.put("leases", Object.fromEntries(leases));
    return true;
  }

  async release(stream: string): Promise<void> {
    const leases = (await this.ctx.storage.get<Record<string, number>>("leases")) ?? {};
    delete leases[stream];
    await this.ctx.storage.put("leases", leases);
  }
}

export type StreamSlotsNamespace = DurableObjectNamespace<StreamSlots>;

/**
 * Holds one of `owner`'s stream slots until the returned release is called: 429 when all are taken.
 * The lease is renewed a few times a minute while the stream runs.
 */
export async function holdStreamSlot(ns: StreamSlotsNamespace, owner: string, limit: number): Promise<() => Promise<void>> {
  const slots = ns.get(ns.idFromName(owner));
  const stream = crypto.randomUUID();
  if (!(await slots.acquire(stream, limit))) {
    throw new IngestError("rate_limited", `${limit} streams are already open for ${owner} (MAX_STREAMS_PER_KEY): wait for one to end`, { limit_streams: limit });
  }
  const renew = setInterval(() => void slots.acquire(stream, limit).catch(() => {}), LEASE_MS / 3);
  return async () => {
    clearInterval(renew);
    await slots.release(stream).catch(() => {});
  };
}
