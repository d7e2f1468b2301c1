/**
 * Whether the database is reachable and at this Worker's schema: /health's answer, and the gate
 * in front of writes. The check is remembered for HEALTH_CACHE_MS per isolate: a burst of probes
 * costs one round trip, not one each.
 */

import { ISOLATE } from "../db/isolate.ts";
import { type Database, database } from "../db/neon.ts";
import { failedHealth } from "../db/neon-answers.ts";
import { type SchemaState, schemaRefusal, schemaState } from "../db/schema-level.ts";
import type { Settings } from "../env.ts";
import type { IngestError } from "../errors.ts";

/** What /health's `database` says; anything but ok is a 503. */
export type DatabaseHealth = "ok" | "unreachable" | "misconfigured" | "behind";

export interface Checked {
  state: DatabaseHealth;
  reason?: string;
  schema?: SchemaState;
}

let last: { db: Database; at: number; checked: Checked } | undefined;
/**
 * The check under way, shared by every concurrent caller (single flight): a burst of probes while
 * the database is slow costs one round trip, not one each. A promise of plain data, which Workers
 * let requests share (unlike I/O objects).
 */
let inFlight: { db: Database; checked: Promise<Checked> } | undefined;

async function check(db: Database): Promise<Checked> {
  try {
    // One query answers both questions: is the database there, and which migrations has it applied?
    const schema = await schemaState(db, ISOLATE, true);
    return { state: schema.status === "ok" ? "ok" : schema.status === "behind" ? "behind" : "misconfigured", reason: schema.message, schema };
  } catch (error) {
    return failedHealth(error);
  }
}

export async function databaseHealth(settings: Settings): Promise<Checked> {
  const db = database(settings, ISOLATE);
  if (last?.db === db && Date.now() - last.at < settings.HEALTH_CACHE_MS) return last.checked;
  if (inFlight?.db === db) return inFlight.checked;
  const flight = { db, checked: check(db) };
  inFlight = flight;
  try {
    const checked = await flight.checked;
    last = { db, at: Date.now(), checked };
    return checked;
  } finally {
    if (inFlight === flight) inFlight = undefined;
  }
}

/**
 * Why writes must wait (503 schema_behind / schema_ahead), or undefined. Unreadable (an outage):
 * undefined, since the write path has its own retries and fallback for that.
 */
export async function schemaRefusalFor(settings: Settings): Promise<IngestError | undefined> {
  const state = await schemaState(database(settings, ISOLATE), ISOLATE).catch(() => undefined);
  return state && schemaRefusal(state, ISOLATE);
}
