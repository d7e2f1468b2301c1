/** Merged counters into the numbers people read: /stats JSON and the dashboard. */
import { DURATION_BUCKETS, type StatsSnapshot } from "./stats-delta.ts";

export interface EntityOutcomes {
  inserted: number;
  duplicates: number;
  failed: number;
}

/** Counters parsed back into their dimensions. */
export function dimensions(snapshot: StatsSnapshot) {
  const entities: Record<string, EntityOutcomes> = {};
  const requests: Record<string, Record<string, number>> = {};
  const byKey: Record<string, number> = {};
  const rejections: Record<string, Record<string, number>> = {};
  const buckets = new Array<number>(DURATION_BUCKETS.length + 1).fill(0);
  for (const [name, value] of Object.entries(snapshot.counters)) {
    const [kind, a, b] = name.split("|");
    if (kind === "messages") (entities[a] ??= { inserted: 0, duplicates: 0, failed: 0 })[b as keyof EntityOutcomes] += value;
    else if (kind === "requests") (requests[a] ??= {})[b] = value;
    else if (kind === "duration_bucket") buckets[Number(a)] = value;
    else if (kind === "requests_by_key") byKey[a] = value;
    else if (kind === "rejections_stored") (rejections[a] ??= {})[b] = value;
  }
  const c = snapshot.counters;
  return {
    entities,
    requests,
    byKey,
    rejections,
    rejectionsNotStored: c.rejections_not_stored ?? 0,
    buckets,
    durationSum: c.duration_sum ?? 0,
    durationCount: c.duration_count ?? 0,
    bytes: c.bytes_received ?? 0,
    dbSeconds: c.db_seconds ?? 0,
  };
}

/** A quantile estimated from histogram buckets by linear interpolation inside the bucket. */
export function quantile(buckets: number[], q: number): number | null {
  const total = buckets.reduce((a, b) => a + b, 0);
  if (total === 0) return null;
  let seen = 0;
  for (let i = 0; i < buckets.length; i++) {
    if (seen + buckets[i] >= q * total && buckets[i] > 0) {
      const lower = i === 0 ? 0 : DURATION_BUCKETS[i - 1];
      const upper = DURATION_BUCKETS[i] ?? DURATION_BUCKETS[DURATION_BUCKETS.length - 1];
      return lower + ((upper - lower) * (q * total - seen)) / buckets[i];
    }
    seen += buckets[i];
  }
  return DURATION_BUCKETS[DURATION_BUCKETS.length - 1];
}

const round = (n: number, digits = 3) => Math.round(n * 10 ** digits) / 10 ** digits;

export function statsReport(snapshot: StatsSnapshot, shards: number, now = Date.now()) {
  const d = dimensions(snapshot);
  const outcomes = { inserted: 0, duplicates: 0, failed: 0 };
  const byEntity: Record<string, number> = {};
  for (const [entity, o] of Object.entries(d.entities)) {
    byEntity[entity] = o.inserted + o.duplicates + o.failed;
    outcomes.inserted += o.inserted;
    outcomes.duplicates += o.duplicates;
    outcomes.failed += o.failed;
  }
  const recent = Object.entries(snapshot.recent)
    .map(([second, [requests, messages]]) => ({ second: Number(second), requests, messages }))
    .sort((a, b) => a.second - b.second);
  const window = 60;
  return {
    total_messages_processed: outcomes.inserted + outcomes.duplicates + outcomes.failed,
    messages_by_entity: byEntity,
    errors: outcomes.failed,
    uptime_seconds: Math.max(0, Math.floor((now - snapshot.startedAt) / 1000)),
    requests_per_second: round(recent.reduce((s, r) => s + r.requests, 0) / window),
    messages_per_second: round(recent.reduce((s, r) => s + r.messages, 0) / window),
    messages_by_outcome: outcomes,
    entities: d.entities,
    requests: d.requests,
    requests_by_key: d.byKey,
    bytes_received: d.bytes,
    database_seconds: round(d.dbSeconds),
    duration_seconds: {
      count: d.durationCount,
      sum: round(d.durationSum),
      p50: quantile(d.buckets, 0.5),
      p95: quantile(d.buckets, 0.95),
      p99: quantile(d.buckets, 0.99),
    },
    recent,
    shards,
  };
}
