/**
 * A local endpoint that speaks Neon's SQL-over-HTTP protocol (shared/NEON-HTTP.md) in front of a
 * Database, so @neondatabase/serverless and drizzle's neon-http driver work unchanged against it.
 * Dev and test only: never bundled into the Worker.
 */
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { isIsolationLevel, type Database, type Statement } from "./database.ts";
import type { FaultSwitch } from "./faults.ts";

export const MAX_BYTES = 10 * 1024 * 1024;

const ERROR_KEYS = [
  "message", "code", "detail", "hint", "position", "internalPosition", "internalQuery", "severity",
  "where", "table", "column", "schema", "dataType", "constraint", "file", "line", "routine",
] as const;

class HttpError extends Error {
  readonly status: number;
  constructor(status: number, message: string) {
    super(message);
    this.status = status;
  }
}

/** Neon's error body always carries every key, absent ones null. */
function errorBody(error: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(ERROR_KEYS.map((key) => [key, error[key] ?? null]));
}

/** A PostgreSQL error (it has a SQLSTATE code) is the client's 400; anything else means the database is unreachable. */
function isDatabaseError(error: unknown): error is Record<string, unknown> & { message: string } {
  return error instanceof Error && typeof (error as { code?: unknown }).code === "string" && /^[0-9A-Z]{5}$/.test((error as unknown as { code: string }).code);
}

function checkConnectionString(value: string | undefined): void {
  if (!value) throw new HttpError(400, "missing connection string: set the Neon-Connection-String header");
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw new HttpError(400, "invalid connection string: not a URL");
  }
  if (url.protocol !== "postgres:" && url.protocol !== "postgresql:") throw new HttpError(400, `invalid connection string: scheme must be postgres or postgresql, got ${url.protocol.slice(0, -1)}`);
  if (!url.username) throw new HttpError(400, "invalid connection string: missing user");
  if (!url.password) throw new HttpError(400, "invalid connection string: missing password");
  if (url.pathname.length <= 1) throw new HttpError(400, "invalid connection string: missing database name");
  if (/^[\d.]+$/.test(url.hostname) || url.hostname.startsWith("[")) throw new HttpError(400, "invalid connection string: the host must be a name, not an IP address");
}

/** Neon accepts JSON values as parameters; the client sends strings and nulls. */
function toParam(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  if (typeof value === "string") return value;
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

function toStatement(raw: unknown): Statement {
  const s = raw as { query?: unknown; params?: unknown };
  if (typeof s?.query !== "string") throw new HttpError(400, "request body must have a string \"query\"");
  if (s.params !== undefined && !Array.isArray(s.params)) throw new HttpError(400, "\"params\" must be an array");
  return { query: s.query, params: ((s.params as unknown[]) ?? []).map(toParam) };
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

async function handle(db: Database, req: IncomingMessage): Promise<unknown> {
  const url = new URL(req.url ?? "/", "http://localhost");
  if (req.method !== "POST" || url.pathname !== "/sql") throw new HttpError(400, `unsupported request: ${req.method} ${url.pathname} (only POST /sql)`);
  checkConnectionString(req.headers["neon-connection-string"] as string | undefined);
  const text = await readBody(req);
  let payload: { query?: unknown; queries?: unknown };
  try {
    payload = JSON.parse(text);
  } catch {
    throw new HttpError(400, "request body is not valid JSON");
  }
  const arrayMode = req.headers["neon-array-mode"] === "true";
  if (Array.isArray(payload?.queries)) {
    const isolationLevel = req.headers["neon-batch-isolation-level"] as string | undefined;
    if (isolationLevel !== undefined && !isIsolationLevel(isolationLevel)) throw new HttpError(400, `invalid isolation level: ${isolationLevel}`);
    const results = await db.transaction(payload.queries.map(toStatement), {
      isolationLevel,
      readOnly: req.headers["neon-batch-read-only"] === "true",
      deferrable: req.headers["neon-batch-deferrable"] === "true",
    });
    return { results: results.map((r) => toResponse(r, arrayMode)) };
  }
  return toResponse(await db.query(toStatement(payload)), arrayMode);
}

function send(res: ServerResponse, status: number, body: unknown): void {
  let text = JSON.stringify(body);
  if (Buffer.byteLength(text) > MAX_BYTES) {
    status = 507;
    text = JSON.stringify({ message: `response is too large (max is ${MAX_BYTES} bytes)` });
  }
  res.writeHead(status, { "Content-Type": "application/json", "Neon-Request-Id": randomUUID() });
  res.end(text);
}

/** With `faults`, POST /__faults switches test-only failures on (see faults.ts). */
export function createLocalNeonServer(db: Database, faults?: FaultSwitch): Server {
  return createServer(async (req, res) => {
    if (faults && req.url === "/__faults" && req.method === "POST") return faults.control(req, res);
    const fault = faults?.take() ?? "none";
    if (fault === "down") return void req.socket.destroy();
    if (fault === "500") return send(res, 500, { message: "injected fault: PostgreSQL unreachable" });
    if (fault === "40001") return send(res, 400, errorBody({ message: "injected fault: could not serialize access due to concurrent update", code: "40001", severity: "ERROR" }));
    if (fault === "slow") {
      await new Promise((resolve) => setTimeout(resolve, faults!.delayMs));
      if (req.socket.destroyed) return; // the client gave up: like Neon, run nothing for it
    }
    if (req.method === "OPTIONS") {
      res.writeHead(200, {
        "Access-Control-Allow-Origin": "*",
        "Access-Control-Allow-Methods": "POST",
        "Access-Control-Allow-Headers": "*",
      });
      res.end();
      return;
    }
    handle(db, req).then(
      (body) => (fault === "reset_after_commit" ? req.socket.destroy() : send(res, 200, body)),
      (error: unknown) => {
        if (error instanceof HttpError) return send(res, error.status, { message: error.message });
        if (isDatabaseError(error)) return send(res, 400, errorBody(error));
        send(res, 500, { message: `database unreachable: ${(error as Error).message}` });
      },
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
