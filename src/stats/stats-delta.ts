/** What one request adds to the stats: built once per request, never per line, and summed per isolate before it is sent. */
import { countTotal } from "../writer/counts.ts";
import type { EntityCounts } from "../writer/port.ts";

/** Upper bounds (seconds) of the request-duration histogram buckets; +Inf is implied. */
export const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] as const;

/** What a request's handlers measure while it runs. */
export interface RequestMeter {
  /** Body bytes as received (before decompression). */
  bytes: number;
  dbSeconds: number;
  messages: Record<string, EntityCounts>;
  /** Rejected lines stored in the quarantine, by "entity|reason". */
  rejections: Record<string, number>;
  /** Rejected lines not stored (over the per-request cap, or the database failed). */
  rejectionsNotStored: number;
  /** Set by streaming handlers: resolves when the response stream has ended. */
  done?: Promise<void>;
}

export const newMeter = (): RequestMeter => ({ bytes: 0, dbSeconds: 0, messages: {}, rejections: {}, rejectionsNotStored: 0 });

export interface StatsDelta {
  /** Epoch milliseconds when the request ended. */
  at: number;
  route: string;
  status: number;
  bytes: number;
  dbSeconds: number;
  durationSeconds: number;
  messages: Record<string, EntityCounts>;
  /** Rejected lines stored in the quarantine, by "entity|reason". */
  rejections?: Record<string, number>;
  /** Rejected lines the quarantine could not keep. */
  rejectionsNotStored?: number;
  /** The API key's id (never the key); null when anonymous. */
  keyId: string | null;
}

/** What an isolate sends a shard: counter increments, and requests and messages per epoch second, summed over its requests. */
export interface StatsBatch {
  counters: [string, number][];
  recent: [second: number, requests: number, messages: number][];
}

/** One shard's counters as its Durable Object returns them; merged by addition. */
export interface StatsSnapshot {
  startedAt: number;
  counters: Record<string, number>;
  /** Requests and messages per second over the last 60 s: second (epoch) → [requests, messages]. */
  recent: Record<string, [number, number]>;
}

/** Counter keys: one flat namespace, so a shard stores one table and merging is addition. */
export const key = {
  messages: (entity: string, outcome: keyof EntityCounts) => `messages|${entity}|${outcome}`,
  requests: (route: string, status: number) => `requests|${route}|${status}`,
  requestsByKey: (keyId: string) => `requests_by_key|${keyId}`,
  /** `entityAndReason` is "entity|reason". */
  rejectionsStored: (entityAndReason: string) => `rejections_stored|${entityAndReason}`,
  rejectionsNotStored: "rejections_not_stored",
  bucket: (index: number) => `duration_bucket|${index}`,
  durationSum: "duration_sum",
  durationCount: "duration_count",
  bytes: "bytes_received",
  dbSeconds: "db_seconds",
};

/** The counter increments of a delta. */
export function increments(delta: StatsDelta): [string, number][] {
  const out: [string, number][] = [
    [key.requests(delta.route, delta.status), 1],
    [key.bytes, delta.bytes],
    [key.dbSeconds, delta.dbSeconds],
    [key.durationSum, delta.durationSeconds],
    [key.durationCount, 1],
    [key.requestsByKey(delta.keyId ?? "(anonymous)"), 1],
  ];
  for (const [entityAndReason, n] of Object.entries(delta.rejections ?? {})) out.push([key.rejectionsStored(entityAndReason), n]);
  out.push([key.rejectionsNotStored, delta.rejectionsNotStored ?? 0]);
  const bucket = DURATION_BUCKETS.findIndex((le) => delta.durationSeconds <= le);
  out.push([key.bucket(bucket === -1 ? DURATION_BUCKETS.length : bucket), 1]);
  for (const [entity, counts] of Object.entries(delta.messages)) {
    for (const outcome of ["inserted", "duplicates", "failed"] as const) {
      if (counts[outcome] > 0) out.push([key.messages(entity, outcome), counts[outcome]]);
    }
  }
  return out.filter(([, n]) => n !== 0);
}

export function messageTotal(delta: StatsDelta): number {
  return Object.values(delta.messages).reduce((sum, c) => sum + countTotal(c), 0);
}
