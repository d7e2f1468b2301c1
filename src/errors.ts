/** The one error type of the domain: a code the single onError maps to an HTTP status. */
import type { ContentfulStatusCode } from "hono/utils/http-status";
import { z } from "zod";

const STATUS = {
  bad_request: 400,
  invalid_message: 400,
  unauthorized: 401,
  forbidden: 403,
  not_found: 404,
  /** The client stopped sending its body (BODY_IDLE_TIMEOUT_MS). */
  request_timeout: 408,
  conflict: 409,
  body_too_large: 413,
  unsupported_media_type: 415,
  rate_limited: 429,
  /** nginx's "client closed request": nobody is left to read the answer, but the logs are. */
  client_closed: 499,
  database_unavailable: 503,
  database_error: 500,
  /** The database refused this deployment (wrong password, unknown or disabled endpoint, IP not allowed): retrying cannot help. */
  database_misconfigured: 500,
  /** The Neon project reached its size limit (SQLSTATE 53100). */
  database_storage_full: 507,
  /** The database has not been migrated to the schema this Worker was built for: run `npm run migrate`. */
  schema_behind: 503,
  /** The database was migrated past what this Worker understands (a rename): deploy the current Worker. */
  schema_ahead: 503,
  /** The deployment lacks something it needs (a binding, a secret): said plainly, not hidden as a 500 "internal error". */
  misconfigured: 500,
  /** Anything the service did not expect: the log has the rest, under the request id. */
  internal_error: 500,
} as const;

export type ErrorCode = keyof typeof STATUS;

/** Every code an error answer (or a stream's failure event) can carry: the Error schema's enum. */
export const ERROR_CODES = Object.keys(STATUS) as [ErrorCode, ...ErrorCode[]];

/** What a 503 tells clients to wait, unless the error knows better. */
export const RETRY_AFTER_SECONDS = 5;

export class IngestError extends Error {
  readonly code: ErrorCode;
  /** Extra fields for the JSON error body (entity, line, counts of what was committed). */
  readonly details: Record<string, unknown>;
  /** Sent as Retry-After (a 503 gets the service's default without it). */
  retryAfterSeconds?: number;
  /** `cause`: the lower layer's error, for the log line only; clients get `message`. */
  constructor(code: ErrorCode, message: string, details: Record<string, unknown> = {}, cause?: unknown) {
    super(message, { cause });
    this.code = code;
    this.details = details;
  }
  get status(): (typeof STATUS)[ErrorCode] {
    return STATUS[this.code];
  }
}

/**
 * A database failure worth retrying later (network, 5xx, serialization failure, deadlock):
 * kept apart from IngestError because callers treat it differently from bad input.
 */
export class TransientDatabaseError extends Error {
  /** What kind of outage, in the service's words (for /health's reason); the message keeps the database's own text. */
  readonly condition?: string;
  constructor(message: string, condition?: string) {
    super(message);
    this.condition = condition;
  }
}

/**
 * A write found a table or column missing (SQLSTATE 42P01/42703): the database's schema and this
 * Worker's disagree. Never a row's fault, so never bisected or retried; see db/schema-level.ts.
 */
export class SchemaMismatch extends IngestError {
  constructor(cause: unknown) {
    super(
      "schema_behind",
      "the database has no table or column this Worker writes: its schema was changed outside `npm run migrate`; GET /health shows both schema levels",
      {},
      cause,
    );
  }
}

/**
 * The service's one error shape: a stable code for programs, a message for people, the request id
 * for the logs; onError answers it, a stream sends it as its failure event (with http_status), and
 * the OpenAPI document names it Error (routes/schemas.ts). Other details pass through.
 */
export const ErrorBodyFields = z
  .object({
    status: z.literal("error"),
    code: z.enum(ERROR_CODES).describe("Stable, for programs: branch on it"),
    message: z.string().describe("For people: what went wrong and what to do"),
    request_id: z.string().describe("This request's id (also the X-Request-Id header): the log lines and rejected lines are kept under it"),
    entity: z.string().nullable().optional(),
    line: z.string().optional(),
    field: z.string().optional(),
    position: z.number().int().optional(),
    committed: z
      .object({ processed: z.number().int().optional(), inserted: z.number().int(), duplicates: z.number().int(), failed: z.number().int().optional() })
      .optional()
      .describe("What was written before the error: it stays written"),
    http_status: z.number().int().optional().describe("In a stream's failure event: the HTTP status the error would have had (the stream's 200 has gone)"),
  })
  .passthrough();

export type ErrorBody = z.infer<typeof ErrorBodyFields>;

/**
 * Any thrown error as the service answers it: its HTTP status, its body and how long to wait.
 * app.ts's onError sends it; a stream, whose 200 has already gone, sends it as its failure event.
 */
export function errorAnswer(error: unknown, requestId: string): { httpStatus: ContentfulStatusCode; body: ErrorBody; retryAfterSeconds?: number } {
  const body = (code: ErrorCode, message: string, details: Record<string, unknown> = {}): ErrorBody => ({
    status: "error",
    code,
    message,
    request_id: requestId,
    ...details,
  });
  if (error instanceof IngestError) {
    const retryAfterSeconds = error.retryAfterSeconds ?? (error.status === 503 ? RETRY_AFTER_SECONDS : undefined);
    const status = answeredWith(error.status);
    return { httpStatus: status, body: body(error.code, error.message, error.details), retryAfterSeconds };
  }
  if (error instanceof TransientDatabaseError) {
    return { httpStatus: 503, body: body("database_unavailable", DATABASE_UNAVAILABLE), retryAfterSeconds: RETRY_AFTER_SECONDS };
  }
  return { httpStatus: 500, body: body("internal_error", "internal error") };
}

/**
 * Every status of STATUS carries a body; Hono's list of status codes lacks nginx's 499 (client_closed),
 * which is checked here, at run time, rather than cast where it is answered.
 */
function hasBody(status: number): status is ContentfulStatusCode {
  return status >= 200 && status <= 599 && status !== 204 && status !== 205 && status !== 304;
}

function answeredWith(status: number): ContentfulStatusCode {
  return hasBody(status) ? status : 500;
}

/** What clients are told when the database stays unreachable; the database layer's own words go to the log. */
export const DATABASE_UNAVAILABLE = "the database is unavailable; retry after Retry-After seconds (retrying is safe: rows already written count as duplicates)";

/** The lower layer's words behind an answer go to the log with the request id; clients get the stable message. */
export function logCause(requestId: string | undefined, route: string, error: unknown): void {
  const cause = error instanceof TransientDatabaseError ? error : error instanceof Error ? error.cause : undefined;
  if (cause === undefined) return;
  console.error(
    JSON.stringify({ level: "warn", request_id: requestId, route, error: error instanceof Error ? error.message : String(error), cause: String(cause) }),
  );
}
