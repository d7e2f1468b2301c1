/**
 * The Stats Durable Object: counters in its SQLite storage, so they survive eviction and
 * restarts. Called by RPC with the summed deltas of an isolate's requests (see stats-client.ts); read by /stats and /metrics.
 */
import { DurableObject } from "cloudflare:workers";
import type { StatsBatch, StatsSnapshot } from "./stats-delta.ts";

const WINDOW_SECONDS = 60;

export class StatsObject extends DurableObject {
  constructor(ctx: DurableObjectState, env: Cloudflare.Env) {
    super(ctx, env);
    this.ctx.storage.sql.exec(`
      CREATE TABLE IF NOT EXISTS counters (key TEXT PRIMARY KEY, value REAL NOT NULL);
      CREATE TABLE IF NOT EXISTS recent (second INTEGER PRIMARY KEY, requests INTEGER NOT NULL, messages INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value REAL NOT NULL);
      INSERT OR IGNORE INTO meta (key, value) VALUES ('started_at', ${Date.now()});
    `);
  }

  /** Adds an isolate's summed deltas: a handful of upserts in one implicit transaction. */
  record(batch: StatsBatch): void {
    const sql = this.ctx.storage.sql;
    for (const [name, value] of batch.counters) {
      sql.exec("INSERT INTO counters (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = value + excluded.value", name, value);
    }
    for (const [second, requests, messages] of batch.recent) {
      sql.exec(
        "INSERT INTO recent (second, requests, messages) VALUES (?, ?, ?) ON CONFLICT (second) DO UPDATE SET requests = requests + excluded.requests, messages = messages + excluded.messages",
        second,
        requests,
        messages,
      );
    }
    sql.exec("DELETE FROM recent WHERE second < ?", Math.floor(Date.now() / 1000) - WINDOW_SECONDS);
  }

  snapshot(): StatsSnapshot {
    const sql = this.ctx.storage.sql;
    const counters: Record<string, number> = {};
    for (const row of sql.exec<{ key: string; value: number }>("SELECT key, value FROM counters")) counters[row.key] = row.value;
    const recent: StatsSnapshot["recent"] = {};
    const since = Math.floor(Date.now() / 1000) - WINDOW_SECONDS;
    for (const row of sql.exec<{ second: number; requests: number; messages: number }>(
      "SELECT second, requests, messages FROM recent WHERE second >= ?",
      since,
    )) {
      recent[row.second] = [row.requests, row.messages];
    }
    const startedAt = sql.exec<{ value: number }>("SELECT value FROM meta WHERE key = 'started_at'").one().value;
    return { startedAt, counters, recent };
  }
}
