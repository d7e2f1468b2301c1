/**
 * The COPY writer's protocol: one entity's rows as COPY text and the statements that take them, one
 * simple query that runs a group of COPYs with their rows sent behind it, and how a WebSocket's
 * failure reads as Neon's answer (the same NEON_ANSWERS as the HTTP path).
 */
import { Buffer } from "node:buffer";
import { type Client, NeonDbError } from "@neondatabase/serverless";
import type { EntityDef } from "../entity/entity.ts";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import { copyFrames, UNENCODABLE } from "./copy-text.ts";
import { classify } from "./neon-answers.ts";

/**
 * A WebSocket failure as Neon's answer: an ErrorResponse has a severity (and maybe a SQLSTATE); a
 * socket failure has neither. Before the connection's first ReadyForQuery, every refusal is the
 * proxy's: Neon sends it as ERROR with SQLSTATE XX000 and the proxy's or PostgreSQL's text
 * (proxy/src/stream.rs, PqStream::throw_error; proxy/src/compute/mod.rs for PostgreSQL's own), so
 * it is read by its text, as the HTTP API's empty-code answers are: one classification for both
 * protocols (db/neon-answers.ts, NEON_ANSWERS). With the password pipelined (the library's default), that
 * answer comes to the first query: what tells it apart is that no ReadyForQuery came before it.
 */
export function classifyWs(error: unknown, beforeReady: boolean): Error {
  if (error instanceof IngestError || error instanceof TransientDatabaseError) return error;
  const e = error as { message?: string; code?: unknown; severity?: unknown };
  const message = e.message ?? String(error);
  // The answer, put in the HTTP client's terms.
  const answer = new NeonDbError(message);
  if (typeof e.severity === "string") answer.code = beforeReady || typeof e.code !== "string" || e.code === "XX000" ? "" : e.code;
  else answer.sourceError = error instanceof Error ? error : new Error(String(error));
  return classify(answer);
}

/** Connections that have had a ReadyForQuery from PostgreSQL: past the proxy, in the pass-through. */
export const pastTheProxy = new WeakSet<Client>();

/** Marks the client once PostgreSQL's first ReadyForQuery arrives (pipelined or not). */
export function watchReady(client: Client): void {
  (client as unknown as { connection: { once(event: string, listener: () => void): void } }).connection.once("readyForQuery", () => pastTheProxy.add(client));
}

/** Bad data (class 22, 23, 54) or an existing key: RowsRejected from classify, whichever module defines it. */
export const refusesData = (error: Error): boolean => typeof (error as { sqlState?: unknown }).sqlState === "string";

/** COPY met natural keys that exist already (or twice in the chunk). */
export const existingKeys = (refused: Error): boolean => (refused.cause as { sqlState?: string } | undefined)?.sqlState === "23505";

/**
 * One entity's rows as COPY text, encoded before any connection is waited for, and the statements
 * that take them: a COPY into the table, or (staged) a COPY into a temporary table and an INSERT
 * that skips existing keys. The last statement's count is the rows inserted.
 */
export interface EntityCopy {
  statements: string[];
  /** The rows' COPY text as the CopyData and CopyDone messages that follow the COPY on the wire. */
  frames: Uint8Array;
}

/** The rows' COPY (staged: through a temporary table), or UNENCODABLE (the caller uses INSERT). */
export function entityCopy(entity: EntityDef, jsons: readonly string[], staged: boolean, stages: { next: number }): EntityCopy | undefined {
  const frames = copyFrames(jsons);
  if (frames === UNENCODABLE) return UNENCODABLE;
  // The statements are generated with the entity (scripts/compiler/generate-registry.ts); only the temporary table's number is the connection's.
  if (!staged) return { statements: [entity.copySql], frames };
  return { statements: [...entity.stagedCopySql(`"nomnom_stage_${++stages.next}"`)], frames };
}

/** What pg's Client hands a query it submits: its socket (the library's WebSocket stream). */
interface PgConnection {
  stream: { writable: boolean; write(bytes: Uint8Array): boolean };
}

const encoder = new TextEncoder();

/**
 * The simple query `sql` (a Query message: 'Q', Int32 length, the text, NUL) followed by every
 * copy's frames, in one buffer: the socket's coalesced writes copy everything written before on
 * each write, and pg's own CopyData is one more copy of the rows. This is the rows' only copy
 * beyond their frames, and it is sent as it is.
 */
function queryWithCopies(sql: string, copies: readonly EntityCopy[]): Uint8Array {
  const text = encoder.encode(sql);
  let size = text.length + 6;
  for (const { frames } of copies) size += frames.length;
  const out = new Uint8Array(size);
  out[0] = 81; // Q
  new DataView(out.buffer).setInt32(1, text.length + 5);
  out.set(text, 5);
  let offset = text.length + 6; // after the NUL that ends the text
  for (const { frames } of copies) {
    out.set(frames, offset);
    offset += frames.length;
  }
  return out;
}

/**
 * Runs the copies as one simple query, `BEGIN; COPY …; …; COMMIT` (without the COMMIT when `commit`
 * is false: the caller has more to run first), with every COPY's rows sent right behind the query,
 * in one write: one round trip, and no wait for each CopyInResponse (a busy Worker would answer
 * each late). PostgreSQL reads the rows as each COPY starts; after an error it skips the rest of
 * the query and ignores the copy data that follows, as the protocol says. One write, because many
 * small socket writes cost quadratic time with coalesceWrites and the socket never pushes back (the
 * chunk limits bound the text). Settles at ReadyForQuery with the rows each copy inserted, or with
 * the first error. Each statement completed calls `touch` (the deadline is per statement).
 */
export function copyIn(client: Client, copies: readonly EntityCopy[], touch: () => void, commit = true): Promise<number[]> {
  const statements = copies.flatMap((c) => c.statements);
  const sql = `BEGIN; ${statements.join("; ")}${commit ? "; COMMIT" : ""}`;
  // Each statement's count, from its CommandComplete tag ("COPY 10000", "INSERT 0 42"), BEGIN's first.
  const counts: number[] = [];
  return new Promise((resolve, reject) => {
    const submittable = {
      submit: (connection: PgConnection) => {
        // As pg's own writes: nothing is sent on a socket that is no longer writable (the query then fails on its error).
        if (!connection.stream.writable) return;
        const bytes = queryWithCopies(sql, copies);
        connection.stream.write(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength));
      },
      handleCopyInResponse: () => {},
      handleCommandComplete: (message: { text: string }) => {
        touch();
        counts.push(Number(message.text.split(" ").at(-1)));
      },
      handleEmptyQuery: () => {},
      handleReadyForQuery: () => {
        let last = 0;
        resolve(copies.map((c) => counts[(last += c.statements.length)]));
      },
      handleError: (error: Error) => reject(error),
    };
    client.query(submittable as unknown as Parameters<Client["query"]>[0]);
  });
}
