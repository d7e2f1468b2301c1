/** /ingest/stream's Server-Sent Events: the data of each event, by its name, and the oneOf the document shows. */
import { z } from "@hono/zod-openapi";
import { Counts, ErrorBody, LineError, QuarantineFields } from "../schemas.ts";

const StreamTotals = {
  processed: z.number().int().describe("Lines read and settled so far: inserted + duplicates + failed"),
  inserted: z.number().int(),
  duplicates: z.number().int(),
  failed: z.number().int(),
  entities: z.record(z.string(), Counts),
};

export const ProgressEvent = z
  .object({
    ...StreamTotals,
    line_number: z.number().int().optional().describe("With ?progress=line: the line just settled"),
    errors: z.array(LineError).optional().describe("Lines rejected since the previous progress event (at most 100)"),
  })
  .openapi("ProgressEvent");

export const RejectedOverflowEvent = z
  .object({ not_sent: z.number().int().describe("Rejected lines not sent as events: the client read slower than they came"), message: z.string() })
  .openapi("RejectedOverflowEvent");

export const SummaryEvent = z
  .object({
    status: z.enum(["success", "partial", "error"]),
    total: z.number().int().describe("Lines read: inserted + duplicates + failed"),
    inserted: z.number().int(),
    duplicates: z.number().int(),
    failed: z.number().int(),
    entities: z.record(z.string(), Counts),
    duration_ms: z.number().int(),
    ...QuarantineFields,
  })
  .openapi("SummaryEvent");

/** One parsed event of the stream: its name (the SSE `event:` field), its id, and its JSON data. */
const streamEvent = (name: string, data: z.ZodType, description: string) =>
  z.object({ event: z.literal(name), id: z.string().describe("1, 2, 3, … in order"), data }).describe(description);

/**
 * The stream's events as a oneOf discriminated by `event`: what an SSE parser hands a client for each
 * message, data parsed as JSON (docs/client.md says why a oneOf rather than an x- extension).
 */
export const StreamEvent = z
  .discriminatedUnion("event", [
    streamEvent("progress", ProgressEvent, "After each committed flush (or each line with ?progress=line): the totals so far"),
    streamEvent("rejected", LineError, "A rejected line: which line, which field, why"),
    streamEvent("rejected_overflow", RejectedOverflowEvent, "Rejected lines the client read too slowly to be sent, counted"),
    streamEvent("summary", SummaryEvent, "The last event of a stream that was read to its end"),
    streamEvent("failure", ErrorBody, "The last event of a stream that stopped: the Error shape, with http_status and what was committed"),
  ])
  .openapi("StreamEvent");
