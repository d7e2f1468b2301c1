/**
 * A local endpoint that speaks Neon's SQL-over-HTTP protocol (shared/NEON-HTTP.md) in front of a
 * Database, so @neondatabase/serverless and drizzle's neon-http driver work unchanged against it.
 * Dev and test only: never bundled into the Worker. Each emulated behaviour names the file of
 * neondatabase/neon (commit 6a35a3e) it was read from; paths are under proxy/src/ unless said.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { Cancelled, ConnectionLost, ConnectRefused, type Database, isIsolationLevel, isSqlError, ResponseTooLarge, type Statement } from "./database.ts";
import type { FaultSwitch } from "./faults.ts";

/** The request limit (serverless/sql_over_http.rs, max_request_size_bytes; http_util.rs reads the body). */
export const MAX_BYTES = 10 * 1024 * 1024;

const ERROR_KEYS = [
  "message",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "severity",
  "where",
  "table",
  "column",
  "schema",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

/** A non-SQL error: Neon gives it every key too, with code and severity "" (serverless/sql_over_http.rs, handle). */
export class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Neon's error body always carries all 17 keys; absent ones null, code and severity "" when not from PostgreSQL. */
export function errorBody(error: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(ERROR_KEYS.map((key) => [key, error[key] ?? (key === "code" || key === "severity" ? "" : null)]));
}

/**
 * The Neon-Connection-String header, checked as serverless/sql_over_http.rs (get_conn_info) and
 * serverless/error.rs (ConnInfoError) do; the password as auth/mod.rs (AuthError::PasswordFailed) words it.
 */
function checkConnectionString(value: string | undefined, password: string | undefined): void {
  if (!value) throw new HttpError(400, "invalid header: neon-connection-string");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new HttpError(400, "invalid connection string: relative URL without a base");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") throw new HttpError(400, "incorrect scheme");
  if (url.pathname.length <= 1) throw new HttpError(400, "missing database name");
  if (!url.username) throw new HttpError(400, "missing username");
  if (!url.password) throw new HttpError(400, "missing authentication credentials: required password");
  // Neon finds the endpoint by the host's first label, so an IP address names none.
  if (/^[\d.]+$/.test(url.hostname) || url.hostname.startsWith("[")) throw new HttpError(400, "invalid hostname: the host must be a name, not an IP address");
  if (password !== undefined && decodeURIComponent(url.password) !== password) {
    throw new HttpError(400, `password authentication failed for user '${decodeURIComponent(url.username)}'`);
  }
}

/**
 * Neon converts non-string parameters (serverless/json.rs, json_to_pg_text) and honours a per-query
 * arrayMode (sql_over_http.rs, QueryData); @neondatabase/serverless uses neither, so they are refused
 * here rather than emulated: nothing must come to depend on them.
 */
function toStatement(raw: unknown, index: number | undefined): Statement {
  const where = index === undefined ? "" : ` of queries[${index}]`;
  const s = raw as { query?: unknown; params?: unknown; arrayMode?: unknown };
  if (typeof s?.query !== "string") throw new HttpError(400, `request body must have a string "query"${where}`);
  if (s.params !== undefined && !Array.isArray(s.params)) throw new HttpError(400, `"params"${where} must be an array`);
  if (s.arrayMode !== undefined)
    throw new HttpError(400, `"arrayMode"${where} is not supported by the local endpoint: use the Neon-Array-Mode header, as @neondatabase/serverless does`);
  const params = (s.params as unknown[] | undefined) ?? [];
  params.forEach((p, i) => {
    if (p !== null && typeof p !== "string")
      throw new HttpError(
        400,
        `params[${i}]${where} is a ${Array.isArray(p) ? "array" : typeof p}: the local endpoint takes strings and nulls only, as @neondatabase/serverless sends them`,
      );
  });
  return { query: s.query, params: params as (string | null)[] };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const declared = Number(req.headers["content-length"] ?? 0);
  if (declared > MAX_BYTES) throw new HttpError(413, `request is too large (max is ${MAX_BYTES} bytes)`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BYTES) throw new HttpError(413, `request is too large (max is ${MAX_BYTES} bytes)`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks).toString("utf8");
}

function toResponse<T extends { rows: (string | null)[][]; fields: { name: string }[] }>(result: T, arrayMode: boolean) {
  const rows = arrayMode ? result.rows : result.rows.map((row) => Object.fromEntries(result.fields.map((f, i) => [f.name, row[i]])));
  return { ...result, rows, rowAsArray: arrayMode };
}

export interface ServerOptions {
  /** Test-only: POST /__faults switches failures on (see faults.ts). */
  faults?: FaultSwitch;
  /** When set, the connection string's password must be this one (LOCAL_NEON_PASSWORD); otherwise any is accepted. */
  password?: string;
}

async function handle(db: Database, req: IncomingMessage, options: ServerOptions, signal: AbortSignal, loseConnection: boolean): Promise<unknown> {
  const url = new URL(req.url ?? "/", "http://localhost");
  // Only POST /sql (serverless/mod.rs, request_handler).
  if (req.method !== "POST" || url.pathname !== "/sql") throw new HttpError(400, "query is not supported");
  checkConnectionString(req.headers["neon-connection-string"] as string | undefined, options.password);
  // Typed output (sql_over_http.rs, HttpHeaders::raw_output false) converts values to JSON types: not emulated.
  if (req.headers["neon-raw-text-output"] !== "true")
    throw new HttpError(400, "typed output is not supported by the local endpoint: send Neon-Raw-Text-Output: true, as @neondatabase/serverless does");
  const text = await readBody(req);
  let payload: { query?: unknown; queries?: unknown };
  try {
    payload = JSON.parse(text);
  } catch (error) {
    throw new HttpError(400, `could not parse the request body as JSON: ${(error as Error).message}`);
  }
  const arrayMode = req.headers["neon-array-mode"] === "true";
  if (Array.isArray(payload?.queries)) {
    const isolationLevel = req.headers["neon-batch-isolation-level"] as string | undefined;
    if (isolationLevel !== undefined && !isIsolationLevel(isolationLevel)) throw new HttpError(400, "invalid isolation level");
    const statements = payload.queries.map((q, i) => toStatement(q, i));
    const results = await db.transaction(
      statements,
      { isolationLevel, readOnly: req.headers["neon-batch-read-only"] === "true", deferrable: req.headers["neon-batch-deferrable"] === "true" },
      { signal, loseConnection },
    );
    return { results: results.map((r) => toResponse(r, arrayMode)) };
  }
  return toResponse(await db.query(toStatement(payload, undefined), { signal, loseConnection }), arrayMode);
}

/**
 * Neon's proxy answers with the whole JSON body at once (serverless/http_util.rs, json_response: a
 * hyper `Full<Bytes>` body), so with a Content-Length, never chunked; Node chunks a body it is not told the length of.
 */
function send(res: ServerResponse, status: number, body: unknown): void {
  if (res.destroyed) return;
  const json = Buffer.from(JSON.stringify(body));
  res.writeHead(status, {
    "Content-Type": "application/json",
    "Content-Length": json.byteLength,
    "Neon-Request-Id": randomUUID(),
    "Access-Control-Allow-Origin": "*",
  });
  res.end(json);
}

/** The answer Neon's proxy gives for each failure (sql_over_http.rs, handle and SqlOverHttpError's status codes). */
function sendError(res: ServerResponse, error: unknown): void {
  if (error instanceof HttpError) return send(res, error.status, errorBody({ message: error.message }));
  if (error instanceof ResponseTooLarge) return send(res, 507, errorBody({ message: error.message }));
  if (error instanceof ConnectionLost) return send(res, 400, errorBody({ message: error.message }));
  // Nobody is left to read it; Neon's words anyway.
  if (error instanceof Cancelled) return send(res, 400, { message: "Query cancelled, connection was terminated", code: "08P01" });
  // PostgreSQL refused the connection (serverless/backend.rs, HttpConnError::PostgresConnectionError's
  // error kind, mapped by sql_over_http.rs get_http_status_code): a wrong database (3D000) is the user's,
  // 400; any other refusal (53300, 55000, 57P03, 28P01…) is 500; both keep PostgreSQL's fields.
  if (error instanceof ConnectRefused) {
    const refusal = error.refusal;
    if (isSqlError(refusal)) return send(res, refusal.code === "3D000" ? 400 : 500, errorBody({ ...refusal, message: refusal.message }));
    return send(res, 500, errorBody({ message: `database unreachable: ${error.message}` }));
  }
  // A PostgreSQL error is the client's 400, with its fields.
  if (isSqlError(error)) return send(res, 400, errorBody({ ...error, message: error.message }));
  // PostgreSQL cannot be reached: a connect-time error, 500 (serverless/backend.rs, HttpConnError).
  send(res, 500, errorBody({ message: `database unreachable: ${(error as Error).message}` }));
}

export function createLocalNeonServer(db: Database, options: ServerOptions = {}): Server {
  const { faults } = options;
  return createServer(async (req, res) => {
    if (faults && req.url === "/__faults" && (req.method === "POST" || req.method === "GET")) return faults.control(req, res);
    if (faults && req.url === "/__counters" && req.method === "GET") return faults.counters(res);
    if (faults) faults.httpRequests++;
    // The client went away before its answer: the query is cancelled and a batch rolled back (sql_over_http.rs, cancel).
    const gone = new AbortController();
    res.once("close", () => {
      if (!res.writableFinished) gone.abort();
    });
    const fault = faults?.take() ?? "none";
    if (fault === "down") return void req.socket.destroy();
    if (fault === "500") return send(res, 500, errorBody({ message: "injected fault: PostgreSQL unreachable" }));
    if (fault === "40001")
      return send(res, 400, errorBody({ message: "injected fault: could not serialize access due to concurrent update", code: "40001", severity: "ERROR" }));
    if (fault === "answer") return send(res, faults!.answer.status, errorBody({ ...faults!.answer }));
    if (fault === "slow") {
      await new Promise((resolve) => setTimeout(resolve, faults!.delayMs));
      if (req.socket.destroyed) return; // the client gave up: like Neon, run nothing for it
    }
    if (req.method === "OPTIONS" && new URL(req.url ?? "/", "http://localhost").pathname === "/sql") {
      res.writeHead(200, {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "*",
      });
      res.end();
      return;
    }
    handle(db, req, options, gone.signal, fault === "connection_lost").then(
      (body) => (fault === "reset_after_commit" ? req.socket.destroy() : send(res, 200, body)),
      (error: unknown) => sendError(res, error),
    );
  });
}

/** Starts the endpoint; resolves with its /sql URL once it listens. */
export async function listen(server: Server, port: number, host = "127.0.0.1"): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host, () => resolve());
  });
  return `http://${host}:${(server.address() as AddressInfo).port}/sql`;
}
