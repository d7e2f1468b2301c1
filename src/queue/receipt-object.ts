/**
 * The receipt of one asynchronous ingest: a Durable Object per ingest id, so receipts do not
 * depend on the database they report on. Parts are the queue messages the rows were sent in.
 */
import { DurableObject } from "cloudflare:workers";
import { outcomeOf } from "../ingest/ingest-run.ts";
import type { LineError } from "../ingest/parse-messages.ts";
import type { EntityCounts } from "../ingest/writer.ts";

const MAX_ERRORS = 1000;

export interface Receipt {
  ingest_id: string;
  /** The API key that started the ingest (null: anonymous, dev only): only it, or an admin key, may read the receipt. */
  key_id: string | null;
  /** The request that queued the ingest, and where its rejected lines are listed. */
  request_id?: string;
  rejections?: string;
  status: "queued" | "done" | "partial" | "failed";
  created_at: string;
  parts: number;
  parts_written: number;
  parts_dead: number;
  /** Parts already counted: a queue may deliver a message twice. */
  written_parts: number[];
  queued_rows: number;
  inserted: number;
  duplicates: number;
  failed: number;
  errors: LineError[];
  /** Why parts went to the dead-letter queue, or why they are being retried. */
  problems: { part: number; attempts: number; reason: string; dead: boolean }[];
}

export class ReceiptObject extends DurableObject {
  private async load(): Promise<Receipt | undefined> {
    return this.ctx.storage.get<Receipt>("receipt");
  }

  private async save(receipt: Receipt): Promise<Receipt> {
    const settled = receipt.parts_written + receipt.parts_dead === receipt.parts;
    receipt.status = !settled
      ? "queued"
      : receipt.parts_dead === 0
        ? outcomeOf(receipt) === "error"
          ? "failed"
          : "done"
        : receipt.parts_written > 0
          ? "partial"
          : "failed";
    await this.ctx.storage.put("receipt", receipt);
    return receipt;
  }

  async create(receipt: Omit<Receipt, "status" | "parts_written" | "parts_dead" | "written_parts" | "problems">): Promise<void> {
    await this.save({ ...receipt, status: "queued", parts_written: 0, parts_dead: 0, written_parts: [], problems: [] });
  }

  /** A part is written: its counts, and the rows the database rejected. Idempotent per part. */
  async written(part: number, counts: EntityCounts, errors: LineError[]): Promise<void> {
    const receipt = await this.load();
    if (!receipt || receipt.written_parts.includes(part) || receipt.problems.some((p) => p.part === part && p.dead)) return;
    receipt.written_parts.push(part);
    receipt.parts_written++;
    receipt.inserted += counts.inserted;
    receipt.duplicates += counts.duplicates;
    receipt.failed += counts.failed;
    receipt.errors.push(...errors.slice(0, MAX_ERRORS - receipt.errors.length));
    receipt.problems = receipt.problems.filter((p) => p.part !== part);
    await this.save(receipt);
  }

  /** A part failed an attempt; the queue will try again (or dead-letter it). */
  async attemptFailed(part: number, attempts: number, reason: string): Promise<void> {
    const receipt = await this.load();
    if (!receipt) return;
    receipt.problems = [...receipt.problems.filter((p) => p.part !== part), { part, attempts, reason, dead: false }];
    await this.save(receipt);
  }

  /** A part reached the dead-letter queue: its rows are not in the database. */
  async deadLettered(part: number, rows: number): Promise<void> {
    const receipt = await this.load();
    if (!receipt || receipt.problems.some((p) => p.part === part && p.dead)) return;
    const last = receipt.problems.find((p) => p.part === part);
    receipt.problems = [
      ...receipt.problems.filter((p) => p.part !== part),
      { part, attempts: last?.attempts ?? 0, reason: `dead-lettered after ${last?.attempts ?? "all"} attempts: ${last?.reason ?? "unknown"}`, dead: true },
    ];
    receipt.parts_dead++;
    receipt.failed += rows;
    await this.save(receipt);
  }

  get(): Promise<Receipt | undefined> {
    return this.load();
  }
}
