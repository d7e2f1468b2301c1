/**
 * What a receipt of an asynchronous ingest holds: one zod schema, the stored shape (receipt-object.ts)
 * and, without its key id, the documented answer of GET /ingest/receipts/{id} (routes/schemas.ts).
 */
import { z } from "zod";
import { LineErrorFields } from "../writer/rows.ts";

export const ReceiptFields = z.object({
  ingest_id: z.string(),
  /** The API key that started the ingest (null: anonymous, dev only): only it, or an admin key, may read the receipt. */
  key_id: z.string().nullable(),
  /** The request that queued the ingest, and where its rejected lines are listed. */
  request_id: z.string().optional(),
  rejections: z.string().optional(),
  status: z.enum(["queued", "parked", "done", "partial", "failed"]).describe("parked: some parts wait, kept, until the database answers again"),
  created_at: z.string(),
  parts: z.number().int(),
  parts_written: z.number().int(),
  /** Receipts made before parts were parked could have dead-lettered parts; none are dropped now. */
  parts_dead: z.number().int(),
  /** Parts kept aside after QUEUE_MAX_RETRIES attempts, until the re-drive writes them. */
  parts_parked: z.number().int().optional(),
  /** Parts already counted: a queue may deliver a message twice. */
  written_parts: z.array(z.number().int()),
  queued_rows: z.number().int(),
  inserted: z.number().int(),
  duplicates: z.number().int(),
  failed: z.number().int(),
  errors: z.array(LineErrorFields),
  /** Why parts are being retried, or are parked (or, in receipts made before parking, were dead-lettered: no status). */
  problems: z.array(
    z.object({
      part: z.number().int(),
      attempts: z.number().int(),
      reason: z.string(),
      status: z.enum(["retrying", "parked", "dead"]).optional(),
      dead: z.boolean(),
    }),
  ),
});

export type Receipt = z.infer<typeof ReceiptFields>;
