/** What every route file's contract shares: the Error answer and the response headers, documented once as components. */
import { ErrorBody } from "./schemas.ts";

const text = { type: "string" as const };

/** Response headers: registered as components.headers (app.ts), referred to by name where they are sent. */
export const HEADERS = {
  "X-Request-Id": { description: "This request's id: named in its log lines, its error body and its rejected lines", schema: text },
  "Retry-After": { description: "Seconds to wait before retrying", schema: { type: "integer" as const, minimum: 0 } },
  Location: { description: "The receipt of the queued rows: GET it to follow them", schema: text },
  "Idempotent-Replayed": {
    description: "true: the stored answer of an earlier request with this Idempotency-Key; nothing was written again",
    schema: { type: "string" as const, enum: ["true"] },
  },
  "Ingest-Fallback": {
    description: "queued: the database stayed unreachable, so the rows were put on the queue instead",
    schema: { type: "string" as const, enum: ["queued"] },
  },
};

export type HeaderName = keyof typeof HEADERS;

export const headers = (...names: HeaderName[]) => Object.fromEntries(names.map((name) => [name, { $ref: `#/components/headers/${name}` }]));

/** An error answer: the Error schema, and the headers sent with it. */
export const failure = (description: string, ...sent: HeaderName[]) => ({
  description,
  headers: headers("X-Request-Id", ...sent),
  content: { "application/json": { schema: ErrorBody } },
});
