/**
 * The Worker's side of the stats. Deltas are added up in this isolate and sent to a shard at most
 * once per STATS_FLUSH_MS (or every MAX_PENDING requests): one Durable Object call per isolate and
 * second instead of one per request, which on /ingest/message was ~1.5 ms of CPU a message and
 * doubled the requests billed. Reads (/stats, /metrics) send this isolate's pending deltas first,
 * so what a client just did is counted; other isolates' last second may lag.
 */

import { increments, messageTotal, type StatsBatch, type StatsDelta, type StatsSnapshot } from "./stats-delta.ts";
import type { StatsObject } from "./stats-object.ts";

export type StatsNamespace = DurableObjectNamespace<StatsObject>;

const MAX_PENDING = 1000;
/** A flush not done this long after it was due was cancelled with its request (waitUntil's limit is 30 s): schedule another. */
const STALE_MS = 60_000;

const shard = (ns: StatsNamespace, index: number) => ns.get(ns.idFromName(`stats-shard-${index}`));

/** What this isolate has counted and not yet sent. */
interface Pending {
  requests: number;
  counters: Map<string, number>;
  /** Epoch second → [requests, messages]. */
  recent: Map<number, [number, number]>;
}

const empty = (): Pending => ({ requests: 0, counters: new Map(), recent: new Map() });

/** An isolate's unsent stats (made once, by the composition root). */
export interface StatsBuffer {
  pending: Pending;
  /** When the scheduled flush is due (epoch ms); 0: none scheduled. */
  flushDueAt: number;
}

export const statsBuffer = (): StatsBuffer => ({ pending: empty(), flushDueAt: 0 });

function add(into: Pending, counters: Iterable<[string, number]>, recent: Iterable<[number, number, number]>, requests: number): void {
  into.requests += requests;
  for (const [name, value] of counters) into.counters.set(name, (into.counters.get(name) ?? 0) + value);
  for (const [second, r, m] of recent) {
    const [r0, m0] = into.recent.get(second) ?? [0, 0];
    into.recent.set(second, [r0 + r, m0 + m]);
  }
}

/** Sends what is pending to one shard (spread at random, so no object's request rate is the ceiling). */
export async function flushStats(buffer: StatsBuffer, ns: StatsNamespace, shards: number): Promise<void> {
  if (buffer.pending.requests === 0) return;
  const sending = buffer.pending;
  buffer.pending = empty();
  const batch: StatsBatch = { counters: [...sending.counters], recent: [...sending.recent].map(([second, [r, m]]) => [second, r, m]) };
  try {
    await shard(ns, Math.floor(Math.random() * shards)).record(batch);
  } catch (error) {
    // Kept for the next flush: counters are sums, so sending them later loses nothing.
    add(buffer.pending, batch.counters, batch.recent, sending.requests);
    throw error;
  }
}

/**
 * Counts one request. Returns the flush this request must keep alive (ctx.waitUntil), if it is
 * the one that scheduled it; later requests in the window only add to the pending sums.
 */
export function recordDelta(buffer: StatsBuffer, ns: StatsNamespace, shards: number, flushMs: number, delta: StatsDelta): Promise<void> | undefined {
  add(buffer.pending, increments(delta), [[Math.floor(delta.at / 1000), 1, messageTotal(delta)]], 1);
  if (buffer.pending.requests >= MAX_PENDING) return flushStats(buffer, ns, shards);
  const now = Date.now();
  if (buffer.flushDueAt !== 0 && now < buffer.flushDueAt + STALE_MS) return undefined;
  buffer.flushDueAt = now + flushMs;
  return new Promise<void>((resolve) => setTimeout(resolve, flushMs)).then(() => {
    buffer.flushDueAt = 0;
    return flushStats(buffer, ns, shards);
  });
}

/** Adds counters that no HTTP request carries (the queue consumer's), straight to one shard. */
export async function recordCounters(ns: StatsNamespace, shards: number, counters: [string, number][]): Promise<void> {
  const nonZero = counters.filter(([, n]) => n !== 0);
  if (nonZero.length > 0) await shard(ns, Math.floor(Math.random() * shards)).record({ counters: nonZero, recent: [] });
}

/** Every shard's snapshot, summed: counters add, the start time is the earliest. */
export async function readStats(buffer: StatsBuffer, ns: StatsNamespace, shards: number): Promise<StatsSnapshot> {
  await flushStats(buffer, ns, shards);
  const snapshots = await Promise.all(Array.from({ length: shards }, (_, i) => shard(ns, i).snapshot()));
  const merged: StatsSnapshot = { startedAt: Math.min(...snapshots.map((s) => s.startedAt)), counters: {}, recent: {} };
  for (const s of snapshots) {
    for (const [k, v] of Object.entries(s.counters)) merged.counters[k] = (merged.counters[k] ?? 0) + v;
    for (const [second, [requests, messages]] of Object.entries(s.recent)) {
      const [r, m] = merged.recent[second] ?? [0, 0];
      merged.recent[second] = [r + requests, m + messages];
    }
  }
  return merged;
}
