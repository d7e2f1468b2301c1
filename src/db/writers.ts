/**
 * The writer a request gets, composed here from its parts so the ingest service never knows which
 * one it holds: the INSERT writer with its retries, and in front of it (BULK_WRITER=copy) the COPY
 * writer, whose declined writes fall back to it.
 */
import type { Settings } from "../env.ts";
import { withFallback } from "../writer/fallback.ts";
import type { Writer } from "../writer/port.ts";
import { copyWriter } from "./copy-writer.ts";
import { type DbClock, insertWriter } from "./insert-writer.ts";
import type { DbIsolate } from "./isolate.ts";
import { database } from "./neon.ts";

/** Which writer bulk writes use: BULK_WRITER, else COPY, except against a local endpoint without a WebSocket one. */
export function bulkWriterKind(settings: { BULK_WRITER?: "copy" | "insert"; NEON_FETCH_ENDPOINT?: string; NEON_WS_PROXY?: string }): "copy" | "insert" {
  if (settings.NEON_FETCH_ENDPOINT && !settings.NEON_WS_PROXY) return "insert";
  return settings.BULK_WRITER ?? "copy";
}

/** Opens the request's writer (BULK_WRITER: COPY over WebSocket, or INSERT over HTTP); the caller closes it in `finally`. */
export function openWriter(settings: Settings, isolate: DbIsolate, clock: DbClock = { dbSeconds: 0 }, retryMs = settings.DB_RETRY_MS): Writer {
  const db = database(settings, isolate);
  const insert = insertWriter(retryMs === db.retryMs ? db : { ...db, retryMs }, clock);
  if (bulkWriterKind(settings) === "insert") return insert;
  // Nothing is opened until the first bulk write: a request that writes one message never opens a WebSocket.
  const copy = copyWriter({
    connectionString: settings.DATABASE_URL,
    wsProxy: settings.NEON_WS_PROXY,
    limits: insert.limits,
    clock,
    timeoutMs: settings.DB_TIMEOUT_MS,
    retryMs,
    isolate,
  });
  return withFallback(copy, insert);
}
