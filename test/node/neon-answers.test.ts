/**
 * The table that sorts Neon's answers (src/db/neon.ts, NEON_ANSWERS), one example per row, as the real
 * @neondatabase/serverless client reports it: a 400 body becomes a NeonDbError with the body's fields,
 * any other status "Server error (HTTP status N): body", a failed fetch "Error connecting to database".
 * The proxy's messages are Neon's own (proxy/src/auth/mod.rs, control_plane/messages.rs, serverless/error.rs).
 */
import { NeonDbError } from "@neondatabase/serverless";
import { describe, expect, it } from "vitest";
import { classify, NEON_ANSWERS, neonAnswer, neonRule, type Outcome } from "../../src/db/neon.ts";
import { IngestError, SchemaMismatch, TransientDatabaseError } from "../../src/errors.ts";
import { RowsRejected } from "../../src/ingest/writer.ts";

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
});
