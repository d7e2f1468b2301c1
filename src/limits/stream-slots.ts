/** Open streams per API key, counted across every isolate by the StreamSlots Durable Object (stream-slots-object.ts). */
import { IngestError } from "../errors.ts";
import type { StreamSlots } from "./stream-slots-object.ts";

const RELEASE_WAIT_MS = 2000;
/** A refused stream's Retry-After: slots free as streams end, so soon is worth a try. */
const RETRY_AFTER_SECONDS = 2;

export type StreamSlotsNamespace = DurableObjectNamespace<StreamSlots>;

/**
 * Holds one of `owner`'s stream slots until the returned release is called: 429 when all are taken.
 * The lease is renewed a few times a minute while the stream runs.
 */
export async function holdStreamSlot(ns: StreamSlotsNamespace, owner: string, limit: number): Promise<() => Promise<void>> {
  const slots = ns.get(ns.idFromName(owner));
  const stream = crypto.randomUUID();
  const leaseMs = await slots.acquire(stream, limit);
  if (leaseMs === null) {
    const refusal = new IngestError("rate_limited", `${limit} streams are already open for ${owner} (MAX_STREAMS_PER_KEY): wait for one to end`, {
      limit_streams: limit,
    });
    refusal.retryAfterSeconds = RETRY_AFTER_SECONDS;
    throw refusal;
  }
  const renew = setInterval(() => void slots.acquire(stream, limit).catch(() => {}), leaseMs / 3);
  return async () => {
    clearInterval(renew);
    // A slow release must not hold the finished stream open: past RELEASE_WAIT_MS the lease lapses on its own.
    let timer: ReturnType<typeof setTimeout> | undefined;
    const waited = new Promise<void>((resolve) => (timer = setTimeout(resolve, RELEASE_WAIT_MS)));
    await Promise.race([slots.release(stream).catch(() => {}), waited]);
    clearTimeout(timer);
  };
}
