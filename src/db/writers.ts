/** The writer a request gets: chosen here, so the ingest service never knows which one it holds. */
import type { Settings } from "../env.ts";
import type { Writer } from "../ingest/writer.ts";
import { type DbClock, insertWriter } from "./insert-writer.ts";
import { database } from "./neon.ts";

/** Opens the request's writer; the caller closes it in `finally`. */
export function openWriter(settings: Settings, clock: DbClock = { dbSeconds: 0 }, retryMs = settings.DB_RETRY_MS): Writer {
  const db = database(settings);
  return insertWriter(retryMs === db.retryMs ? db : { ...db, retryMs }, clock);
}
