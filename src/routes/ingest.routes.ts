/** The ingest routes' contract: method, path, query, bodies and answers. */
import { createRoute, z } from "@hono/zod-openapi";
import {
  AcceptedResult,
  BatchQuery,
  BatchResult,
  ErrorBody,
  IngestQuery,
  JsonBody,
  MessageQuery,
  MessageResult,
  NdjsonLines,
  ParkedList,
  PIPE_EXAMPLE,
  PipeLines,
  ReceiptResult,
  RedriveResult,
} from "./schemas.ts";

/** Bodies are plain JSON Schema: documented, never parsed by the router, so they reach the service as streams. */
const plain = (schema: z.ZodType) => z.toJSONSchema(schema, { unrepresentable: "any" }) as Record<string, unknown>;
const bodies = {
  "text/plain": { schema: plain(PipeLines), example: PIPE_EXAMPLE },
  "application/json": { schema: plain(JsonBody) },
  "application/x-ndjson": { schema: plain(NdjsonLines) },
};
const error = (description: string) => ({ description, content: { "application/json": { schema: ErrorBody } } });
const encodingNote = "Bodies may be sent with Content-Encoding: gzip or deflate.";
/** What every ingest route can answer before it reads the body. */
const refusals = {
  401: error("Missing or invalid API key"),
  415: error("Unsupported Content-Type or Content-Encoding"),
  429: error("Rate limit exceeded (or, on /ingest/stream, MAX_STREAMS_PER_KEY streams open); retry after Retry-After seconds"),
  503: error(
    "schema_behind / schema_ahead: the database's migrations do not match this Worker's (run npm run migrate, or deploy the matching Worker); database_unavailable: retry after Retry-After seconds",
  ),
};
/** What a route that writes can answer once the database has refused it or the client went silent. */
const writeFailures = {
  408: error("request_timeout: the client sent nothing for BODY_IDLE_TIMEOUT_MS"),
  500: error("database_misconfigured: Neon refused DATABASE_URL (the message says why; not retried, not queued)"),
  507: error("database_storage_full: the Neon project reached its size limit"),
};

export const messageRoute = createRoute({
  method: "post",
  path: "/ingest/message",
  security: [{ bearer: [] }],
  summary: "Write one message",
  description: `One pipe-delimited line or one JSON record (an Order may nest line_items, written in the same transaction). ${encodingNote}`,
  request: { query: MessageQuery, body: { content: bodies, required: true } },
  responses: {
    200: { description: "Written (or already there: duplicate)", content: { "application/json": { schema: MessageResult } } },
    202: {
      description: "The database stayed unreachable: queued instead (Ingest-Fallback: queued)",
      content: { "application/json": { schema: AcceptedResult } },
    },
    400: error("Invalid message: which line, which field, why"),
    413: error("Body over MAX_LINE_BYTES (one message is at most one line's worth)"),
    403: error("The key may not write this entity"),
    ...refusals,
    ...writeFailures,
  },
});

export const batchRoute = createRoute({
  method: "post",
  path: "/ingest/batch",
  security: [{ bearer: [] }],
  summary: "Write many messages",
  description: `Newline-separated pipe lines, NDJSON, or a JSON array. Valid lines are written, bad ones reported; processed = inserted + duplicates + failed. ${encodingNote}`,
  request: {
    query: BatchQuery,
    headers: z.object({
      "idempotency-key": z
        .string()
        .optional()
        .describe(
          "A replay with the same key and body gets the stored answer (header Idempotent-Replayed: true) and writes nothing; the same key with another body: 409",
        ),
    }),
    body: { content: bodies, required: true },
  },
  responses: {
    200: { description: "Every line written or already there", content: { "application/json": { schema: BatchResult } } },
    202: {
      description:
        "Asynchronous (?mode=async, Prefer: respond-async), or the fallback when the database stays unreachable (Ingest-Fallback: queued): the rows are on the queue",
      content: { "application/json": { schema: AcceptedResult } },
    },
    207: { description: "Some lines rejected, the rest written", content: { "application/json": { schema: BatchResult } } },
    400: { description: "Nothing could be written", content: { "application/json": { schema: BatchResult.or(ErrorBody) } } },
    403: error("The key may not write any entity"),
    409: error("The Idempotency-Key was used with another request"),
    413: error(
      "Body over MAX_BATCH_BYTES (after decompression), more than MAX_BATCH_ITEMS messages, or an atomic batch over one Neon request; nothing was written",
    ),
    ...refusals,
    503: error(
      "database_unavailable: the body says what was committed; retrying is safe. schema_behind / schema_ahead: the database's migrations do not match this Worker's",
    ),
    ...writeFailures,
  },
});

export const streamRoute = createRoute({
  method: "post",
  path: "/ingest/stream",
  security: [{ bearer: [] }],
  summary: "Stream messages of any size, with progress as Server-Sent Events",
  description: `A chunked upload processed while it is read. Events: rejected (a bad line), progress (per committed flush, or per line with progress=line), then summary {status, total, inserted, duplicates, failed, entities, duration_ms} or failure {request_id, status, code, message, committed}. ${encodingNote}`,
  request: { query: IngestQuery, body: { content: bodies, required: true } },
  responses: {
    200: { description: "The event stream", content: { "text/event-stream": { schema: { type: "string" } } } },
    400: error("A query parameter outside its documented values"),
    403: error("The key may not write any entity"),
    ...refusals,
  },
});

export const receiptRoute = createRoute({
  method: "get",
  path: "/ingest/receipts/{id}",
  security: [{ bearer: [] }],
  summary: "How an asynchronous ingest is doing",
  request: { params: z.object({ id: z.string().describe("The ingest_id of a 202 answer") }) },
  responses: {
    200: {
      description: "The receipt: queued, done, partial or failed, with counts, errors and why parts were dead-lettered",
      content: { "application/json": { schema: ReceiptResult } },
    },
    404: error("No such receipt"),
  },
});

const adminOnly = { 401: error("Missing or invalid API key"), 403: error("The key has no admin scope") };

export const parkedRoute = createRoute({
  method: "get",
  path: "/ingest/parked",
  security: [{ bearer: [] }],
  summary: "Queue parts parked after QUEUE_MAX_RETRIES attempts (admin)",
  description: "Oldest first, without their rows. The Cron Trigger re-drives them every minute once the database answers.",
  request: { query: z.object({ limit: z.coerce.number().int().min(1).max(1000).optional().describe("At most this many (default 100)") }) },
  responses: { 200: { description: "The parked parts", content: { "application/json": { schema: ParkedList } } }, ...adminOnly },
});

export const redriveRoute = createRoute({
  method: "post",
  path: "/ingest/parked/redrive",
  security: [{ bearer: [] }],
  summary: "Write parked parts now (admin)",
  description: "Oldest first, up to 200 a call; stops at the first part the database still refuses to take.",
  responses: { 200: { description: "What was written", content: { "application/json": { schema: RedriveResult } } }, ...adminOnly },
});
