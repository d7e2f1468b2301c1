/**
 * Parked parts: queue messages whose rows could not be written after QUEUE_MAX_RETRIES attempts
 * (the database stayed down). They are kept here, rows and rejections, until the scheduled
 * re-drive (or an admin) writes them: an accepted row is never dropped. One SQLite-backed Durable
 * Object (the name "parked") holds them all, so the re-drive can find them; a part is at most one
 * queue message (128 KB), well under SQLite's 2 MB a value in a Durable Object.
 */
import { DurableObject } from "cloudflare:workers";
import type { IngestPart } from "./async-ingest.ts";

/** A parked part as listed (without its rows). */
export interface ParkedSummary {
  ingest_id: string;
  part: number;
  rows: number;
  rejections: number;
  attempts: number;
  reason: string;
  parked_at: string;
  /** Re-drives tried since it was parked. */
  redrives: number;
}

export interface ParkedPart extends ParkedSummary {
  body: IngestPart;
}

type Row = Record<string, SqlStorageValue>;

const summaryOf = (row: Row): ParkedSummary => ({
  ingest_id: String(row.ingest_id),
  part: Number(row.part),
  rows: Number(row.rows),
  rejections: Number(row.rejections),
  attempts: Number(row.attempts),
  reason: String(row.reason),
  parked_at: String(row.parked_at),
  redrives: Number(row.redrives),
});

export class ParkedParts extends DurableObject {
  constructor(ctx: DurableObjectState, env: Env) {
    super(ctx, env);
    ctx.storage.sql.exec(
      `CREATE TABLE IF NOT EXISTS parked (
        ingest_id TEXT NOT NULL, part INTEGER NOT NULL, body TEXT NOT NULL, rows INTEGER NOT NULL, rejections INTEGER NOT NULL,
        attempts INTEGER NOT NULL, reason TEXT NOT NULL, parked_at TEXT NOT NULL, redrives INTEGER NOT NULL DEFAULT 0,
        PRIMARY KEY (ingest_id, part))`,
    );
  }

  /** Keeps a part (again: a queue may deliver a message twice, the newest copy wins). */
  park(body: IngestPart, attempts: number, reason: string): void {
    this.ctx.storage.sql.exec(
      "INSERT OR REPLACE INTO parked (ingest_id, part, body, rows, rejections, attempts, reason, parked_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
      body.ingestId,
      body.part,
      JSON.stringify(body),
      body.rows.length,
      body.rejections?.length ?? 0,
      attempts,
      reason,
      new Date().toISOString(),
    );
  }

  /** The oldest parked parts, without their rows. */
  list(limit: number): { parts: ParkedSummary[]; total: number } {
    const parts = this.ctx.storage.sql.exec("SELECT * FROM parked ORDER BY parked_at, ingest_id, part LIMIT ?", limit).toArray().map(summaryOf);
    const total = Number(this.ctx.storage.sql.exec("SELECT count(*) AS n FROM parked").one().n);
    return { parts, total };
  }

  /** Parked parts with their rows, for a re-drive: those tried least first, then the oldest. */
  take(limit: number): ParkedPart[] {
    return this.ctx.storage.sql
      .exec("SELECT * FROM parked ORDER BY redrives, parked_at, ingest_id, part LIMIT ?", limit)
      .toArray()
      .map((row) => ({ ...summaryOf(row), body: JSON.parse(String(row.body)) as IngestPart }));
  }

  /** A re-drive wrote the part: it is no longer kept here. */
  remove(ingestId: string, part: number): void {
    this.ctx.storage.sql.exec("DELETE FROM parked WHERE ingest_id = ? AND part = ?", ingestId, part);
  }

  /** A re-drive failed again: why, for the listing. */
  redriveFailed(ingestId: string, part: number, reason: string): void {
    this.ctx.storage.sql.exec("UPDATE parked SET redrives = redrives + 1, reason = ? WHERE ingest_id = ? AND part = ?", reason, ingestId, part);
  }
}
