/**
 * Whether the database is reachable and at this Worker's schema: /health's answer. The check is
 * remembered for HEALTH_CACHE_MS per isolate, and one check under way is shared by every concurrent
 * caller (single flight): a burst of probes costs one round trip, not one each. The check itself
 * (one query to the migration journal) is handed in by src/compose.ts, which holds the isolate's cache.
 */

/** What /health's `database` says; anything but ok is a 503. */
export type DatabaseHealth = "ok" | "unreachable" | "misconfigured" | "behind";

export interface Checked<Schema> {
  state: DatabaseHealth;
  reason?: string;
  schema?: Schema;
}

/** One isolate's remembered check, per database client (`db`: any object that stands for it). */
export function createHealthCache<Schema>() {
  let last: { db: object; at: number; checked: Checked<Schema> } | undefined;
  // A promise of plain data, which Workers let requests share (unlike I/O objects).
  let inFlight: { db: object; checked: Promise<Checked<Schema>> } | undefined;
  return async function databaseHealth(db: object, cacheMs: number, check: () => Promise<Checked<Schema>>): Promise<Checked<Schema>> {
    if (last?.db === db && Date.now() - last.at < cacheMs) return last.checked;
    if (inFlight?.db === db) return inFlight.checked;
    const flight = { db, checked: check() };
    inFlight = flight;
    try {
      const checked = await flight.checked;
      last = { db, at: Date.now(), checked };
      return checked;
    } finally {
      if (inFlight === flight) inFlight = undefined;
    }
  };
}
