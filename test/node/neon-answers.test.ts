/**
 * The table that sorts Neon's answers (src/db/neon-answers.ts, NEON_ANSWERS), one example per row, as the real
 * @neondatabase/serverless client reports it: a 400 body becomes a NeonDbError with the body's fields,
 * any other status "Server error (HTTP status N): body", a failed fetch "Error connecting to database".
 * The proxy's messages are Neon's own (proxy/src/auth/mod.rs, control_plane/messages.rs, serverless/error.rs).
 */
import { NeonDbError } from "@neondatabase/serverless";
import { describe, expect, it } from "vitest";
import { classify, failedHealth, NEON_ANSWERS, neonAnswer, neonRule, type Outcome } from "../../src/db/neon-answers.ts";
import { IngestError, SchemaMismatch, TransientDatabaseError } from "../../src/errors.ts";
import { RowsRejected } from "../../src/writer/port.ts";

/** What the client throws for a 400 body. */
function bad(message: string, code = ""): NeonDbError {
  const error = new NeonDbError(message);
  error.code = code;
  error.severity = code ? "ERROR" : "";
  return error;
}
const server = (status: number, body: object) => new NeonDbError(`Server error (HTTP status ${status}): ${JSON.stringify(body)}`);
function unreachable(): NeonDbError {
  const error = new NeonDbError("Error connecting to database: TypeError: fetch failed");
  error.sourceError = new TypeError("fetch failed");
  return error;
}

const examples: [string, unknown, Outcome, RegExp?][] = [
  ["a failed fetch", unreachable(), "retry"],
  ["our deadline", new DOMException("The operation was aborted due to timeout", "TimeoutError"), "retry"],
  ["413", server(413, { message: "request is too large (max is 10485760 bytes)", code: "" }), "client_error"],
  ["a refused password", bad("password authentication failed for user 'app'"), "misconfigured", /^the database refused the password for user app:/],
  [
    "an IP not allowed",
    bad(
      "This IP address 192.0.2.1 is not allowed to connect to this endpoint. Please add it to the allowed list in the Neon console. Make sure to check for IPv4 or IPv6 addresses.",
    ),
    "misconfigured",
    /IP address 192\.0\.2\.1/,
  ],
  ["a blocked network", bad("This connection is trying to access this endpoint from a blocked network."), "misconfigured", /network/],
  [
    "a VPC endpoint not allowed",
    bad("This VPC endpoint id vpce-1 is not allowed to connect to this endpoint. Please add it to the allowed list in the Neon console."),
    "misconfigured",
    /vpce-1/,
  ],
  ["an unknown endpoint", bad("Control plane request failed: endpoint cannot be found"), "misconfigured", /cannot be found/],
  ["a disabled endpoint", bad("Control plane request failed: endpoint is disabled"), "misconfigured", /disabled/],
  [
    "an endpoint over quota (as a 500)",
    server(500, { message: "Control plane request failed: endpoint is temporarily unavailable. Check your quotas and/or contact our support.", code: "" }),
    "misconfigured",
    /quotas/,
  ],
  [
    "a connection string without a password",
    bad("missing authentication credentials: required password"),
    "misconfigured",
    /^Neon refused DATABASE_URL: missing authentication credentials/,
  ],
  ["too many connections", bad("Too many connections to this endpoint. Please try again later."), "retry"],
  // Over the WebSocket, PostgreSQL's refusals at connect come as the proxy's XX000 with PostgreSQL's text (read as code "").
  ["PostgreSQL's refused password, over the WebSocket", bad('password authentication failed for user "app"'), "misconfigured", /password for user app:/],
  ["an unknown role, over the WebSocket", bad('role "app" does not exist'), "misconfigured", /role "app" does not exist: check DATABASE_URL/],
  [
    "an unknown database, over the WebSocket",
    bad('database "main" does not exist'),
    "misconfigured",
    /^the database named in DATABASE_URL does not exist: database "main" does not exist/,
  ],
  [
    "no pg_hba.conf entry, over the WebSocket",
    bad('no pg_hba.conf entry for host "203.0.113.7", user "app", database "main", no encryption'),
    "misconfigured",
    /pg_hba/,
  ],
  ["no CONNECT privilege, over the WebSocket", bad('permission denied for database "main"'), "misconfigured", /permission denied/],
  ["55000 at connect, over the WebSocket", bad('database "main" is not currently accepting connections'), "retry"],
  ["53300 at connect, over the WebSocket", bad('too many connections for role "app"'), "retry"],
  ["a control plane's own text", bad("Your project has exceeded the data transfer quota. Upgrade your plan to increase limits."), "retry"],
  ["53300 at connect, over HTTP (a 500 with PostgreSQL's code)", server(500, { message: "sorry, too many clients already", code: "53300" }), "retry"],
  ["55000 at connect, over HTTP", server(500, { message: 'database "main" is not currently accepting connections', code: "55000" }), "retry"],
  ["55000 in a statement", bad("object not in prerequisite state", "55000"), "retry"],
  ["57P03", server(500, { message: "the database system is starting up", code: "57P03" }), "retry"],
  [
    "28P01 from PostgreSQL, as a 500",
    server(500, { message: 'password authentication failed for user "app"', code: "28P01" }),
    "misconfigured",
    /SQLSTATE 28P01/,
  ],
  ["28000", bad('role "app" does not exist', "28000"), "misconfigured", /role "app" does not exist/],
  ["3D000", bad('database "main" does not exist', "3D000"), "misconfigured", /database "main" does not exist/],
  ["53100", bad("could not extend file because project size limit (512 MB) has been exceeded", "53100"), "storage_full"],
  ["58030", bad("could not read block 0 from page server", "58030"), "retry"],
  ["a 500 without a code", server(500, { message: "could not connect to compute", code: "" }), "retry"],
  ["507", server(507, { message: "response is too large (max is 10485760 bytes)", code: "" }), "retry"],
  ["a lost connection", bad("connection closed"), "retry"],
  ["42703", bad('column "clerk" of relation "orders" does not exist', "42703"), "schema_mismatch"],
  ["42P01", bad('relation "shipments" does not exist', "42P01"), "schema_mismatch"],
  ["23505", bad("duplicate key value violates unique constraint", "23505"), "client_error"],
  ["22P02", bad("invalid input syntax for type integer", "22P02"), "client_error"],
  ["40001", bad("could not serialize access", "40001"), "retry"],
  ["08006", bad("connection failure", "08006"), "retry"],
];

describe("NEON_ANSWERS", () => {
  for (const [what, error, outcome, reason] of examples) {
    it(`${what}: ${outcome}`, () => {
      expect(neonRule(neonAnswer(error))?.rule.outcome).toBe(outcome);
      const failure = classify(error);
      const expected = {
        retry: TransientDatabaseError,
        client_error: RowsRejected,
        misconfigured: IngestError,
        storage_full: IngestError,
        schema_mismatch: SchemaMismatch,
      }[outcome];
      expect(failure).toBeInstanceOf(expected);
      if (outcome === "misconfigured") expect(failure).toMatchObject({ code: "database_misconfigured", status: 500, message: expect.stringMatching(reason!) });
      if (outcome === "storage_full") expect(failure).toMatchObject({ code: "database_storage_full", status: 507 });
    });
  }

  it("keeps today's answer for a SQLSTATE no row names: a 500 database_error", () => {
    expect(neonRule(neonAnswer(bad("division by zero", "42883")))).toBeUndefined();
    expect(classify(bad("function f() does not exist", "42883"))).toMatchObject({ code: "database_error", status: 500 });
  });

  it("has an example above for every row", () => {
    const used = new Set(examples.map(([, error]) => neonRule(neonAnswer(error))?.rule));
    expect(NEON_ANSWERS.filter((rule) => !used.has(rule)).map((rule) => rule.answer)).toEqual([]);
  });

  it("gives /health the condition of an outage in its own words: never the server's text, a role name or a secret", () => {
    const reasons = [
      failedHealth(unreachable()),
      failedHealth(server(500, { message: 'too many connections for role "app_secret_role"', code: "53300" })),
      failedHealth(server(500, { message: 'database "main" is not currently accepting connections', code: "55000" })),
      failedHealth(bad('database "main" is not currently accepting connections')),
      failedHealth(server(500, { message: "the database system is shutting down", code: "57P03" })),
      failedHealth(bad("Too many connections to this endpoint. Please try again later.")),
    ];
    expect(reasons).toEqual([
      { state: "unreachable", reason: "no answer: the request failed or passed DB_TIMEOUT_MS" },
      { state: "unreachable", reason: "too many connections (SQLSTATE 53300)" },
      { state: "unreachable", reason: "the database is not accepting connections (SQLSTATE 55000)" },
      { state: "unreachable", reason: "the database is not accepting connections (SQLSTATE 55000, by PostgreSQL's text)" },
      { state: "unreachable", reason: "the database is starting up or shutting down (SQLSTATE 57P03)" },
      { state: "unreachable", reason: "Neon's proxy refuses more connections to this endpoint" },
    ]);
  });
});
