/**
 * The receipt of one asynchronous ingest: a Durable Object per ingest id, so receipts do not
 * depend on the database they report on. Parts are the queue messages the rows were sent in.
 */
import { DurableObject } from "cloudflare:workers";
import { MAX_ERRORS_LISTED } from "../limits/caps.ts";
import { addCounts, outcomeOf } from "../writer/counts.ts";
import type { EntityCounts } from "../writer/port.ts";
import type { LineError } from "../writer/rows.ts";
import type { Receipt } from "./receipt.ts";

export class ReceiptObject extends DurableObject {
  private async load(): Promise<Receipt | undefined> {
    return this.ctx.storage.get<Receipt>("receipt");
  }

  private async save(receipt: Receipt): Promise<Receipt> {
    const settled = receipt.parts_written + receipt.parts_dead === receipt.parts;
    receipt.status = !settled
      ? (receipt.parts_parked ?? 0) > 0
        ? "parked"
        : "queued"
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

  async create(receipt: Omit<Receipt, "status" | "parts_written" | "parts_dead" | "parts_parked" | "written_parts" | "problems">): Promise<void> {
    await this.save({ ...receipt, status: "queued", parts_written: 0, parts_dead: 0, parts_parked: 0, written_parts: [], problems: [] });
  }

  /** A part is written: its counts, and the rows the database rejected. Idempotent per part. */
  async written(part: number, counts: EntityCounts, errors: LineError[]): Promise<void> {
    const receipt = await this.load();
    if (!receipt || receipt.written_parts.includes(part) || receipt.problems.some((p) => p.part === part && p.dead)) return;
    receipt.written_parts.push(part);
    receipt.parts_written++;
    addCounts(receipt, counts);
    receipt.errors.push(...errors.slice(0, MAX_ERRORS_LISTED - receipt.errors.length));
    if (receipt.problems.some((p) => p.part === part && p.status === "parked")) receipt.parts_parked = (receipt.parts_parked ?? 1) - 1;
    receipt.problems = receipt.problems.filter((p) => p.part !== part);
    await this.save(receipt);
  }

  /** A part failed an attempt; the queue will try again. */
  async attemptFailed(part: number, attempts: number, reason: string): Promise<void> {
    const receipt = await this.load();
    if (!receipt || receipt.written_parts.includes(part)) return;
    const wasParked = receipt.problems.some((p) => p.part === part && p.status === "parked");
    if (wasParked) receipt.parts_parked = (receipt.parts_parked ?? 1) - 1;
    receipt.problems = [...receipt.problems.filter((p) => p.part !== part), { part, attempts, reason, status: "retrying", dead: false }];
    await this.save(receipt);
  }

  /** A part is parked (kept with its rows and rejections) until the database answers again. */
  async parked(part: number, attempts: number, reason: string): Promise<void> {
    const receipt = await this.load();
    if (!receipt || receipt.written_parts.includes(part) || receipt.problems.some((p) => p.part === part && p.status === "parked")) return;
    receipt.problems = [
      ...receipt.problems.filter((p) => p.part !== part),
      { part, attempts, reason: `parked after ${attempts} attempts, to be written once the database answers: ${reason}`, status: "parked", dead: false },
    ];
    receipt.parts_parked = (receipt.parts_parked ?? 0) + 1;
    await this.save(receipt);
  }

  get(): Promise<Receipt | undefined> {
    return this.load();
  }
}
