/** The Worker's side of the stats: which shard a request writes to, and reads merged over all shards. */
import type { StatsObject } from "./stats-object.ts";
import type { StatsDelta, StatsSnapshot } from "./stats-delta.ts";

export type StatsNamespace = DurableObjectNamespace<StatsObject>;

const shard = (ns: StatsNamespace, index: number) => ns.get(ns.idFromName(`stats-shard-${index}`));

/** Spreads writers over the shards, so one object's request rate is never the ceiling. */
export function recordDelta(ns: StatsNamespace, shards: number, delta: StatsDelta): Promise<void> {
  return shard(ns, Math.floor(Math.random() * shards)).record(delta);
}

/** Every shard's snapshot, summed: counters add, the start time is the earliest. */
export async function readStats(ns: StatsNamespace, shards: number): Promise<StatsSnapshot> {
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
