/**
 * The retry decorator: a Writer whose calls are tried again after transient failures (RetryPolicy),
 * around one that makes a single attempt. Safe for our writes: ON CONFLICT DO NOTHING makes a replay
 * of a statement that did commit insert nothing (its rows then count as duplicates), and a
 * transaction that failed was rolled back whole.
 */
import { type RetryPolicy, retrying } from "./backoff.ts";
import type { Writer } from "./port.ts";

export function withWriteRetries(writer: Writer, policy: RetryPolicy): Writer {
  return {
    limits: writer.limits,
    writeChunk: (entity, rows) => retrying(policy, () => writer.writeChunk(entity, rows)),
    writeTransaction: (rows, extra) => retrying(policy, () => writer.writeTransaction(rows, extra)),
    writeOne: (entity, json, children) => retrying(policy, () => writer.writeOne(entity, json, children)),
    findRefused: writer.findRefused && ((entity, rows) => retrying(policy, () => writer.findRefused!(entity, rows))),
    subrequests: () => writer.subrequests(),
    prepare: () => writer.prepare(),
    close: () => writer.close(),
  };
}
