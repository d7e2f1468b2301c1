/**
 * How an answer from Neon is classified (NEON_ANSWERS, the table docs/neon-errors.md is in prose):
 * bad data, worth retrying, misconfiguration, storage full, a schema mismatch, or our own bug. The
 * HTTP and WebSocket paths share it.
 */
import { NeonDbError } from "@neondatabase/serverless";
import { IngestError, SchemaMismatch, TransientDatabaseError } from "../errors.ts";
import { RowsRejected } from "../writer/port.ts";

/**
 * SQLSTATEs worth retrying, and the condition each names for /health (never the server's text,
 * which can name a role). 53300, 55000 and 57P03 are PostgreSQL refusing a connection; over HTTP
 * they come as a 500 with the code, over the WebSocket as XX000 with PostgreSQL's text.
 */
const TRANSIENT_STATES: Record<string, string> = {
  "40001": "a serialization failure",
  "40P01": "a deadlock",
  "53300": "too many connections",
  "55000": "the database is not accepting connections",
  "55P03": "a lock not available",
  "57P01": "the server was shut down by its administrator",
  "57P02": "the server crashed",
  "57P03": "the database is starting up or shutting down",
  "58030": "a page server I/O error",
};

/** PostgreSQL's texts for its refusals at connect (src/backend/utils/init/postinit.c, postmaster.c), and their SQLSTATEs. */
const CONNECT_TEXTS: [RegExp, string][] = [
  [/^sorry, too many clients already|^too many connections for (role|database)|^remaining connection slots are reserved/, "53300"],
  [/^database "[^"]*" is not currently accepting connections/, "55000"],
  [/^the database system is (starting up|shutting down|in recovery mode|not yet accepting connections|not accepting connections)/, "57P03"],
];

/** The condition behind a transient answer, in our words: no role name, no secret, no server text. */
export function transientCondition(answer: NeonAnswer): string {
  if (Object.hasOwn(TRANSIENT_STATES, answer.code)) return `${TRANSIENT_STATES[answer.code]} (SQLSTATE ${answer.code})`;
  if (answer.code.startsWith("08")) return `a connection failure (SQLSTATE ${answer.code})`;
  if (answer.status === undefined) return "no answer: the request failed or passed DB_TIMEOUT_MS";
  if (answer.code === "" && /^Too many connections to this endpoint/.test(answer.message)) return "Neon's proxy refuses more connections to this endpoint";
  // PostgreSQL's refusals as the WebSocket passes them on (XX000, its text: proxy/src/compute/mod.rs).
  if (answer.code === "") {
    const known = CONNECT_TEXTS.find(([pattern]) => pattern.test(answer.message));
    if (known) return `${TRANSIENT_STATES[known[1]]} (SQLSTATE ${known[1]}, by PostgreSQL's text)`;
  }
  if (answer.status !== 400) return `Neon answered HTTP ${answer.status}${answer.code ? ` (SQLSTATE ${answer.code})` : ""}`;
  return "the connection was lost, or Neon's proxy refused it with a message no rule knows";
}

/** What to do about an answer from Neon. */
export type Outcome = "retry" | "client_error" | "misconfigured" | "storage_full" | "schema_mismatch";

/** Neon's answer as @neondatabase/serverless reports it. */
export interface NeonAnswer {
  /** The HTTP status; undefined when no answer came (network failure, our deadline). */
  status?: number;
  /**
   * The SQLSTATE; "" for the proxy's own errors (auth, connection string, a lost connection),
   * and for a WebSocket's XX000 before its first ReadyForQuery (copy-writer.ts, classifyWs).
   */
  code: string;
  message: string;
}

interface NeonRule {
  /** The answer, as docs/neon-errors.md lists it. */
  answer: string;
  outcome: Outcome;
  test(answer: NeonAnswer): RegExpExecArray | boolean | null;
  /** For misconfiguration: what the operator is told (never the secret: Neon's messages do not carry it). */
  reason?(match: RegExpExecArray, answer: NeonAnswer): string;
}

const proxyMessage = (pattern: RegExp) => (a: NeonAnswer) => (a.code === "" ? pattern.exec(a.message) : null);
const sqlState =
  (...codes: string[]) =>
  (a: NeonAnswer) =>
    codes.includes(a.code);

/**
 * Every answer Neon can give, first match wins; docs/neon-errors.md is this table in prose.
 * The proxy's messages are quoted from neondatabase/neon proxy/src/auth/mod.rs,
 * control_plane/messages.rs and serverless/error.rs (commit 6a35a3e).
 */
export const NEON_ANSWERS: readonly NeonRule[] = [
  { answer: "no answer: the request failed or passed DB_TIMEOUT_MS", outcome: "retry", test: (a) => a.status === undefined },
  { answer: "413 request is too large (max is 10485760 bytes)", outcome: "client_error", test: (a) => a.status === 413 },
  {
    answer: "code \"\": password authentication failed for user '<user>'",
    outcome: "misconfigured",
    // PostgreSQL words it with double quotes; over the WebSocket its refusal comes as the proxy's (XX000, its text).
    test: proxyMessage(/^password authentication failed for user ['"]([^'"]*)['"]/),
    reason: (m) => `the database refused the password for user ${m[1]}: check the password in DATABASE_URL (it may have been rotated)`,
  },
  {
    answer: 'code "": This IP address <ip> is not allowed to connect to this endpoint. …',
    outcome: "misconfigured",
    test: proxyMessage(/^This IP address (\S+) is not allowed to connect to this endpoint/),
    reason: (m) => `the database does not allow connections from this Worker's IP address ${m[1]}: check the endpoint's IP allow list in the Neon console`,
  },
  {
    answer: 'code "": This connection is trying to access this endpoint from a blocked network.',
    outcome: "misconfigured",
    test: proxyMessage(/^This connection is trying to access this endpoint from a blocked network/),
    reason: () => "the database refuses connections from this Worker's network: check the endpoint's network restrictions in the Neon console",
  },
  {
    answer: 'code "": This VPC endpoint id <id> is not allowed to connect to this endpoint. …',
    outcome: "misconfigured",
    test: proxyMessage(/^This VPC endpoint id (\S+) is not allowed/),
    reason: (m) => `the database does not allow VPC endpoint ${m[1]}: check the endpoint's allowed VPC endpoints in the Neon console`,
  },
  {
    answer: 'code "": Control plane request failed: endpoint cannot be found',
    outcome: "misconfigured",
    test: proxyMessage(/^Control plane request failed: endpoint cannot be found/),
    reason: () => "the Neon endpoint named by DATABASE_URL's host cannot be found: check the host in DATABASE_URL",
  },
  {
    answer: 'code "": Control plane request failed: endpoint is disabled',
    outcome: "misconfigured",
    test: proxyMessage(/^Control plane request failed: endpoint is disabled/),
    reason: () => "the Neon endpoint named by DATABASE_URL is disabled: enable it in the Neon console",
  },
  {
    answer: 'code "": Control plane request failed: endpoint is temporarily unavailable. Check your quotas and/or contact our support.',
    outcome: "misconfigured",
    test: proxyMessage(/^Control plane request failed: endpoint is temporarily unavailable/),
    reason: () => "Neon refuses to start the endpoint named by DATABASE_URL: check the project's quotas in the Neon console",
  },
  {
    answer:
      'code "": a connection string error (invalid connection string, incorrect scheme, missing database name, missing username, missing authentication credentials, missing hostname, invalid hostname)',
    outcome: "misconfigured",
    test: proxyMessage(
      /^(invalid connection string|incorrect scheme|missing database name|invalid database name|missing username|invalid username|missing authentication credentials|missing hostname|invalid hostname|Endpoint ID is not specified)\b.*/,
    ),
    reason: (m) => `Neon refused DATABASE_URL: ${m[0]}`,
  },
  {
    answer:
      'code "": PostgreSQL\'s own refusal at connect, as the proxy passes it on over the WebSocket (XX000, its text): role "<role>" does not exist, no pg_hba.conf entry, permission denied for database',
    outcome: "misconfigured",
    test: proxyMessage(/^(role "[^"]*" does not exist|no pg_hba\.conf entry\b.*|permission denied for database "[^"]*")/),
    reason: (m) => `the database refused the connection: ${m[1]}: check DATABASE_URL`,
  },
  {
    answer: 'code "": Too many connections to this endpoint. Please try again later.',
    outcome: "retry",
    test: proxyMessage(/^Too many connections to this endpoint/),
  },
  {
    answer: "SQLSTATE 28P01 (invalid password) or 28000 (invalid authorization), from PostgreSQL itself",
    outcome: "misconfigured",
    test: sqlState("28P01", "28000"),
    reason: (_, a) => `the database refused the credentials in DATABASE_URL: ${a.message} (SQLSTATE ${a.code})`,
  },
  {
    answer: 'SQLSTATE 3D000, or over the WebSocket code "" database "<db>" does not exist: the database in DATABASE_URL does not exist',
    outcome: "misconfigured",
    test: (a) => a.code === "3D000" || (a.code === "" && /^database "[^"]*" does not exist/.test(a.message)),
    reason: (_, a) => `the database named in DATABASE_URL does not exist: ${a.message}`,
  },
  { answer: "SQLSTATE 53100: the Neon project reached its size limit", outcome: "storage_full", test: sqlState("53100") },
  { answer: "SQLSTATE 58030: a page server I/O error (transient)", outcome: "retry", test: sqlState("58030") },
  { answer: "any other status but 400 (5xx, 507) without a SQLSTATE", outcome: "retry", test: (a) => a.status !== 400 },
  { answer: '400, code "", any other message: the connection to PostgreSQL was lost mid-query', outcome: "retry", test: (a) => a.code === "" },
  {
    answer: "SQLSTATE 42P01 (undefined table) or 42703 (undefined column): the schema is not this Worker's",
    outcome: "schema_mismatch",
    test: sqlState("42P01", "42703"),
  },
  { answer: "SQLSTATE class 22 (data), 23 (integrity), 54 (a key too long for its index)", outcome: "client_error", test: (a) => /^(22|23|54)/.test(a.code) },
  {
    answer: "SQLSTATE 40001, 40P01, 53300, 55000, 55P03, 57P01, 57P02, 57P03, class 08",
    outcome: "retry",
    test: (a) => Object.hasOwn(TRANSIENT_STATES, a.code) || a.code.startsWith("08"),
  },
];

/** Neon's answer out of what the client threw: 400s carry the body's fields; other statuses only their text. */
export function neonAnswer(error: unknown): NeonAnswer {
  const message = error instanceof Error ? error.message : String(error);
  // Not Neon's answer: a failed fetch ("Error connecting to database: …", our deadline included) or no answer at all.
  if (!(error instanceof NeonDbError) || error.sourceError !== undefined) return { code: "", message };
  const server = /^Server error \(HTTP status (\d+)\): ([\s\S]*)$/.exec(message);
  if (!server) return { status: 400, code: error.code ?? "", message };
  // A 5xx body is still Neon's JSON error (e.g. a SQLSTATE 28P01 from the compute comes as a 500).
  let body: { code?: unknown; message?: unknown } = {};
  try {
    body = JSON.parse(server[2]);
  } catch {}
  return {
    status: Number(server[1]),
    code: typeof body.code === "string" ? body.code : "",
    message: typeof body.message === "string" ? body.message : message,
  };
}

/** The rule that decides an answer, and its match; undefined: a SQLSTATE nobody classified (our bug, 500). */
export function neonRule(answer: NeonAnswer): { rule: NeonRule; match: RegExpExecArray | true } | undefined {
  for (const rule of NEON_ANSWERS) {
    const match = rule.test(answer);
    if (match) return { rule, match };
  }
  return undefined;
}

/** Sorts a failure into bad data (RowsRejected), worth-retrying (Transient), misconfiguration, storage full, or our own bug (500). */
export function classify(error: unknown): Error {
  const answer = neonAnswer(error);
  const found = neonRule(answer);
  if (!found) return new IngestError("database_error", `the database failed the statement (SQLSTATE ${answer.code})`, { sqlstate: answer.code }, error);
  const { rule, match } = found;
  switch (rule.outcome) {
    case "retry":
      // Neon's full text stays in the error, for the log line of whoever gives up on it.
      return new TransientDatabaseError(answer.message, transientCondition(answer));
    case "client_error":
      // Neon refuses a statement over 10 MiB: bisection narrows it to the row, which is then rejected, never retried.
      return answer.status === 413
        ? new RowsRejected("the row is larger than Neon's 10 MiB statement limit", "413")
        : new RowsRejected(answer.message, answer.code);
    case "misconfigured":
      return new IngestError("database_misconfigured", rule.reason!(match === true ? ([] as unknown as RegExpExecArray) : match, answer));
    case "storage_full":
      return new IngestError(
        "database_storage_full",
        `the database is full (SQLSTATE ${answer.code}): raise the Neon project's size limit or free space`,
        {},
        error,
      );
    case "schema_mismatch":
      // No row is at fault: the whole request gets the schema answer (see db/schema-level.ts).
      return new SchemaMismatch(error);
  }
}

/**
 * A transient answer the service goes on past (a retry, HTTP instead of a WebSocket), in the log
 * with Neon's full text: an answer no rule knows is retried, never a 500, and never unseen.
 */
export function logTransient(what: string, failure: TransientDatabaseError): void {
  console.warn(JSON.stringify({ level: "warn", event: "neon_transient", action: what, condition: failure.condition, message: failure.message }));
}

/**
 * What /health says about a failed database call: misconfigured, with the reason a write's 500
 * gives, or unreachable, with the condition (our words: never the server's text, a role or a secret).
 */
export function failedHealth(error: unknown): { state: "unreachable" | "misconfigured"; reason: string } {
  const failure = classify(error);
  if (failure instanceof IngestError && failure.code === "database_misconfigured") return { state: "misconfigured", reason: failure.message };
  if (failure instanceof TransientDatabaseError) return { state: "unreachable", reason: failure.condition ?? "the database did not answer" };
  return {
    state: "unreachable",
    reason: failure instanceof IngestError ? `the database failed the health check (${failure.code})` : "the database failed the health check",
  };
}
