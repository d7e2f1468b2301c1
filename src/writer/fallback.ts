/**
 * The fallback decorator: what the primary writer declines (COPY cannot carry the text, no WebSocket
 * opens, a transaction too large for it, a single message) is written by the fallback instead. As
 * PostHog's capture wraps its sink (`FallbackSink::new(primary, fallback)`), the primary never holds
 * the fallback: it only says no, with Declined.
 */
import type { Writer } from "./port.ts";

/** The primary writer cannot take these rows: the fallback writes them. `settled` hears what it wrote. */
export class Declined extends Error {
  readonly settled?: (written: unknown) => void;
  constructor(reason: string, settled?: (written: unknown) => void) {
    super(reason);
    this.settled = settled;
  }
}

async function orElse<T>(first: () => Promise<T>, second: () => Promise<T>): Promise<T> {
  try {
    return await first();
  } catch (error) {
    if (!(error instanceof Declined)) throw error;
    const written = await second();
    error.settled?.(written);
    return written;
  }
}

/** Limits and the subrequest count are the primary's (it shares the request's clock with the fallback); close() closes both. */
export function withFallback(primary: Writer, fallback: Writer): Writer {
  return {
    limits: primary.limits,
    writeChunk: (entity, rows) =>
      orElse(
        () => primary.writeChunk(entity, rows),
        () => fallback.writeChunk(entity, rows),
      ),
    writeTransaction: (rows, extra) =>
      orElse(
        () => primary.writeTransaction(rows, extra),
        () => fallback.writeTransaction(rows, extra),
      ),
    writeOne: (entity, json, children) =>
      orElse(
        () => primary.writeOne(entity, json, children),
        () => fallback.writeOne(entity, json, children),
      ),
    // The primary declines where it has no better way (the COPY writer without its WebSocket): the fallback's statement.
    findRefused: (entity, rows) =>
      orElse(
        () => primary.findRefused?.(entity, rows) ?? Promise.reject(new Declined("no way of its own to find refused rows")),
        () => fallback.findRefused?.(entity, rows) ?? Promise.resolve(undefined),
      ),
    subrequests: () => primary.subrequests(),
    prepare: () => primary.prepare(),
    async close() {
      await primary.close();
      await fallback.close();
    },
  };
}
