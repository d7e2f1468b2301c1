/**
 * The caps on what one request may send and what an answer lists, in one place: the body limits
 * every ingest route reads under (from the settings), and the number of rejected lines an answer
 * or a receipt lists (the rest are counted, never dropped from the counts).
 */

/** Rejected lines listed at most: MAX_ERRORS_REPORTED's default for an answer, and a receipt's fixed cap. */
export const MAX_ERRORS_LISTED = 1000;

/** A cap on a body's decompressed bytes, and the setting that sets it (named in the 413). */
export interface BodyLimit {
  bytes: number;
  setting: string;
  /** How long the client may send nothing before the read gives up with a 408 (BODY_IDLE_TIMEOUT_MS). */
  idleMs: number;
}

/** The settings the body caps come from (a structural slice of env.ts's Settings). */
export interface BodyCaps {
  MAX_BODY_BYTES: number;
  MAX_BATCH_BYTES: number;
  MAX_LINE_BYTES: number;
  BODY_IDLE_TIMEOUT_MS: number;
}

/**
 * A JSON document is read whole (twice its size in memory while decoding), and a batch is held
 * until it is complete: both are capped by MAX_BATCH_BYTES. Lines streamed need only MAX_BODY_BYTES.
 */
export function bodyLimit(settings: BodyCaps, format: "text" | "ndjson" | "json", held: boolean): BodyLimit {
  const idleMs = settings.BODY_IDLE_TIMEOUT_MS;
  return held || format === "json"
    ? {
        bytes: Math.min(settings.MAX_BODY_BYTES, settings.MAX_BATCH_BYTES),
        setting: settings.MAX_BATCH_BYTES < settings.MAX_BODY_BYTES ? "MAX_BATCH_BYTES" : "MAX_BODY_BYTES",
        idleMs,
      }
    : { bytes: settings.MAX_BODY_BYTES, setting: "MAX_BODY_BYTES", idleMs };
}

/** One message is at most one line's worth. */
export const messageLimit = (settings: BodyCaps): BodyLimit => ({
  bytes: settings.MAX_LINE_BYTES,
  setting: "MAX_LINE_BYTES",
  idleMs: settings.BODY_IDLE_TIMEOUT_MS,
});
