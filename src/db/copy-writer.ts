/**
 * The optimistic COPY writer: bulk rows go to PostgreSQL with COPY … FROM STDIN over Neon's WebSocket
 * protocol (the Postgres wire protocol passed through): the chunks waiting for the request's
 * connection in one transaction, sent as one query with their rows. New rows, the common case, then
 * cost the database what COPY costs. A chunk whose natural keys exist already (23505) is rolled back
 * and staged: COPY into a temporary table, then INSERT … SELECT … ON CONFLICT DO NOTHING, in the same
 * kind of query, which gives exact counts. A row the database refuses goes to the fallback writer
 * (INSERT over HTTP), whose RowsRejected drives bisection. Single messages always go to the fallback.
 * docs/bulk-writer.md has the measurements behind these choices.
 */
import { Buffer } from "node:buffer";
import { Client, NeonDbError } from "@neondatabase/serverless";
import { type EntityDef, groupRows } from "../entity/entity.ts";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import type { Statement, WriteResult, Writer } from "../writer/port.ts";
import type { RowToWrite } from "../writer/rows.ts";
import { copyText, UNENCODABLE } from "./copy-text.ts";
import { countSubrequest, type DbClock } from "./insert-writer.ts";
import { classify, logTransient } from "./neon.ts";

export interface CopyWriterOptions {
  connectionString: string;
  /** Dev/test only: the local WebSocket endpoint (NEON_WS_PROXY). Unset: Neon's own, with the library's defaults. */
  wsProxy?: string;
  /** The INSERT writer: conflicts, refused rows, single messages, and everything when no WebSocket opens. */
  fallback: Writer;
  clock?: DbClock;
  /** One attempt's deadline (DB_TIMEOUT_MS): connecting, or one chunk's transaction. */
  timeoutMs: number;
  /** How long transient failures are retried (DB_RETRY_MS). */
  retryMs: number;
}

/**
 * After a chunk of an entity met existing rows, this isolate stages that entity's chunks until one
 * finds no duplicate: a replay pays one failed COPY, not one per chunk.
 */
const conflicted = new Set<string>();

/** What the per-isolate memory holds; tests and benchmarks start from a clean slate. */
export function forgetConflicts(): void {
  conflicted.clear();
}

/**
 * WebSockets one request holds at most; its chunks take turns. Each connection is a new PostgreSQL
 * backend: with 3 per request, /ingest/batch (10,000-line requests) cost PostgreSQL twice the CPU
 * of the same rows through one stream, and ran slower than INSERT (docs/bulk-writer.md). Across
 * requests there is parallelism enough; within one, the database is one COPY at a time anyway.
 */
const MAX_SOCKETS = 1;

/**
 * WebSockets this isolate holds at once, across its requests: each is a PostgreSQL backend (a
 * PgBouncer client on Neon's -pooler host), and Workers cannot share a socket across requests, so a
 * burst of bulk requests would open one each and meet 53300 past the compute's max_connections
 * (about 100 at Neon's smallest size). Beyond `max`, a request writes over HTTP instead (one
 * statement per request, no connection held). Tests lower `max`.
 */
export const isolateSockets = { open: 0, max: 16 };

/** Rows in one transaction, as the INSERT writer takes them (one Neon request): the same limit on both paths. */
const TRANSACTION_MAX_CHARS = 3 * 1024 * 1024;

/** The database or the WebSocket said no; `fallback`: COPY cannot take these rows as they are. */
class CopyRefused extends Error {}

/**
 * A WebSocket failure as Neon's answer: an ErrorResponse has a severity (and maybe a SQLSTATE); a
 * socket failure has neither. Before the connection's first ReadyForQuery, every refusal is the
 * proxy's: Neon sends it as ERROR with SQLSTATE XX000 and the proxy's or PostgreSQL's text
 * (proxy/src/stream.rs, PqStream::throw_error; proxy/src/compute/mod.rs for PostgreSQL's own), so
 * it is read by its text, as the HTTP API's empty-code answers are: one classification for both
 * protocols (db/neon.ts, NEON_ANSWERS). With the password pipelined (the library's default), that
 * answer comes to the first query: what tells it apart is that no ReadyForQuery came before it.
 */
function classifyWs(error: unknown, beforeReady: boolean): Error {
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
const pastTheProxy = new WeakSet<Client>();

/** Marks the client once PostgreSQL's first ReadyForQuery arrives (pipelined or not). */
function watchReady(client: Client): void {
  (client as unknown as { connection: { once(event: string, listener: () => void): void } }).connection.once("readyForQuery", () => pastTheProxy.add(client));
}

/** Bad data (class 22, 23, 54) or an existing key: RowsRejected from classify, whichever module defines it. */
const refusesData = (error: Error): boolean => typeof (error as { sqlState?: unknown }).sqlState === "string";

/** COPY met natural keys that exist already (or twice in the chunk). */
const existingKeys = (refused: CopyRefused): boolean => (refused.cause as { sqlState?: string } | undefined)?.sqlState === "23505";

/**
 * Fails `work` when `ms` pass without progress. `work` may be given `touch`, which starts the `ms`
 * again: a transaction calls it as each statement completes, so its deadline is per statement (a
 * group of chunks, or a compute waking for the first one, is not held to one statement's time).
 */
async function deadline<T>(ms: number, what: string, work: Promise<T> | ((touch: () => void) => Promise<T>), onTimeout: () => void): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let fail: (error: Error) => void = () => {};
  const timeout = new Promise<never>((_, reject) => {
    fail = reject;
  });
  const touch = () => {
    clearTimeout(timer);
    timer = setTimeout(() => {
      onTimeout();
      fail(new TransientDatabaseError(`${what}: nothing finished within ${ms} ms`));
    }, ms);
  };
  touch();
  try {
    return await Promise.race([typeof work === "function" ? work(touch) : work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * One entity's rows as COPY text, encoded before any connection is waited for, and the statements
 * that take them: a COPY into the table, or (staged) a COPY into a temporary table and an INSERT
 * that skips existing keys. The last statement's count is the rows inserted.
 */
interface EntityCopy {
  statements: string[];
  text: Uint8Array;
}

/** Staging tables' names: unique in the isolate, so the chunks of one query never share one. */
let stages = 0;

/** The rows' COPY (staged: through a temporary table), or UNENCODABLE (the caller uses INSERT). */
function entityCopy(entity: EntityDef, jsons: readonly string[], staged: boolean): EntityCopy | undefined {
  const text = copyText(jsons);
  if (text === UNENCODABLE) return UNENCODABLE;
  const columns = entity.columns.map((c) => `"${c}"`).join(", ");
  if (!staged) return { statements: [`COPY "${entity.table}" (${columns}) FROM STDIN`], text };
  // The table's column types without its constraints or defaults: a value the table refuses is refused by the INSERT.
  const stage = `"nomnom_stage_${++stages}"`;
  const key = entity.naturalKey.map((c) => `"${c}"`).join(", ");
  // As the INSERT writer's statement: natural-key order, so concurrent statements cannot deadlock.
  const conflict = key ? ` ORDER BY ${key} ON CONFLICT (${key}) DO NOTHING` : " ON CONFLICT DO NOTHING";
  return {
    statements: [
      `CREATE TEMPORARY TABLE ${stage} ON COMMIT DROP AS SELECT ${columns} FROM "${entity.table}" WITH NO DATA`,
      `COPY ${stage} (${columns}) FROM STDIN`,
      `INSERT INTO "${entity.table}" (${columns}) SELECT ${columns} FROM ${stage}${conflict}`,
    ],
    text,
  };
}

/** What pg's Client hands a query it submits: the messages a COPY … FROM STDIN needs. */
interface PgConnection {
  query(text: string): void;
  sendCopyFromChunk(chunk: Uint8Array): void;
  endCopyFrom(): void;
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
function copyIn(client: Client, copies: readonly EntityCopy[], touch: () => void, commit = true): Promise<number[]> {
  const statements = copies.flatMap((c) => c.statements);
  const sql = `BEGIN; ${statements.join("; ")}${commit ? "; COMMIT" : ""}`;
  // Each statement's count, from its CommandComplete tag ("COPY 10000", "INSERT 0 42"), BEGIN's first.
  const counts: number[] = [];
  return new Promise((resolve, reject) => {
    const submittable = {
      submit: (connection: PgConnection) => {
        connection.query(sql);
        for (const { text } of copies) {
          connection.sendCopyFromChunk(Buffer.from(text.buffer, text.byteOffset, text.byteLength));
          connection.endCopyFrom();
        }
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

/**
 * The platform's WebSocket, except that send() on a socket already closing or closed drops the data
 * instead of throwing. With coalesceWrites, the library sends its buffered writes from a
 * setTimeout(0); when the server ended the session meanwhile (a refused password, a fault) and the
 * socket was closed, that send() threw outside any promise: an uncaught exception in the Worker's
 * logs for a request that was answered correctly. Data for a closed socket is lost either way.
 */
export class QuietWebSocket extends WebSocket {
  override send(data: Parameters<WebSocket["send"]>[0]): void {
    if (this.readyState <= WebSocket.OPEN) super.send(data);
  }
}

/** Which writer bulk writes use: BULK_WRITER, else COPY, except against a local endpoint without a WebSocket one. */
export function bulkWriterKind(settings: { BULK_WRITER?: "copy" | "insert"; NEON_FETCH_ENDPOINT?: string; NEON_WS_PROXY?: string }): "copy" | "insert" {
  if (settings.NEON_FETCH_ENDPOINT && !settings.NEON_WS_PROXY) return "insert";
  return settings.BULK_WRITER ?? "copy";
}

/** A host on this machine: localhost, 127.0.0.0/8, ::1, or a name that only resolves to loopback (*.localhost, *.localtest.me). */
const isLoopback = (host: string) => /^(localhost|127(\.\d{1,3}){3}|\[?::1\]?|.+\.localhost|(.+\.)?localtest\.me)$/i.test(host);

/**
 * NEON_WS_PROXY turns TLS off (plain ws://) and the password goes with the startup message: only
 * to an endpoint on this machine. Anywhere else it is refused, as a deployment's misconfiguration.
 */
function checkPlainWebSocket(wsProxy: string): void {
  const host = /^(\[[^\]]*\]|[^:/]+)/.exec(wsProxy)?.[1] ?? "";
  if (!isLoopback(host))
    throw new IngestError(
      "misconfigured",
      `NEON_WS_PROXY points at ${host}, which is not this machine: it turns TLS off and would send the database password in clear; it is for local development only, unset it`,
    );
}

export function copyWriter(options: CopyWriterOptions): Writer {
  const { fallback, clock = { dbSeconds: 0 } } = options;
  const idle: Client[] = [];
  const all = new Set<Client>();
  /** Chunks waiting for a connection: handed an idle one, or undefined (a place came free: open one). */
  const waiting: ((client: Client | undefined) => void)[] = [];
  let opening = 0;
  /** No WebSocket could be opened: the rest of this request writes through the fallback. */
  let unavailable = false;

  async function open(): Promise<Client> {
    if (options.wsProxy) checkPlainWebSocket(options.wsProxy);
    // Opening the WebSocket is the subrequest; what goes over it afterwards is not (no fetch).
    countSubrequest(clock);
    const client = new Client(options.connectionString);
    client.neonConfig.webSocketConstructor = QuietWebSocket;
    if (options.wsProxy) {
      // The local endpoint: plain ws://; the password pipelined with the startup message, as against Neon.
      client.neonConfig.wsProxy = options.wsProxy;
      client.neonConfig.useSecureWebSocket = false;
    }
    // A broken connection also emits "error" on the client: the failing query reports it.
    client.on("error", () => {});
    try {
      const connecting = client.connect();
      // After connect(): with a pipelined password it replaces the connection's readyForQuery listeners.
      watchReady(client);
      await deadline(options.timeoutMs, "connecting over WebSocket", connecting, () => closeUnopened(client));
    } catch (error) {
      closeUnopened(client);
      throw error;
    }
    all.add(client);
    return client;
  }

  /**
   * A client that never connected must not be end()ed: its Terminate message would be sent on a
   * WebSocket still opening, which throws outside any promise. Its socket is closed instead.
   */
  function closeUnopened(client: Client): void {
    try {
      (client as unknown as { connection: { stream: { ws?: WebSocket } } }).connection.stream.ws?.close();
    } catch {}
  }

  /** A connection opened ahead (prepare), until the first chunk takes it, failure included. */
  let prepared: Promise<Client> | undefined;

  /** Opens a connection in one of the MAX_SOCKETS places; on failure the place goes to the next waiting chunk. */
  async function connect(): Promise<Client> {
    opening++;
    try {
      if (isolateSockets.open >= isolateSockets.max) throw new Error(`this isolate holds its ${isolateSockets.max} WebSockets already`);
      isolateSockets.open++;
      try {
        return await open();
      } catch (error) {
        isolateSockets.open--;
        throw error;
      }
    } catch (error) {
      // The place stays free: the next waiting chunk tries (and, with no WebSocket, falls back too).
      waiting.shift()?.(undefined);
      throw error;
    } finally {
      opening--;
    }
  }

  /** The connection opened ahead, an idle one, a new one while fewer than MAX_SOCKETS are open, or the next one given back. */
  async function borrow(): Promise<Client> {
    if (prepared) {
      const ahead = prepared;
      prepared = undefined;
      return ahead;
    }
    const ready = idle.pop();
    if (ready) return ready;
    if (all.size + opening >= MAX_SOCKETS) {
      const given = await new Promise<Client | undefined>((resolve) => waiting.push(resolve));
      if (given) return given;
    }
    return connect();
  }

  function giveBack(client: Client): void {
    const next = waiting.shift();
    if (next) next(client);
    else idle.push(client);
  }

  function discard(client: Client): void {
    if (!all.delete(client)) return;
    isolateSockets.open--;
    waiting.shift()?.(undefined);
    // end() may never settle on a lost connection: nobody waits for it.
    void client.end().catch(() => {});
  }

  /**
   * Runs one transaction on a pooled connection, retrying transient failures with a new connection
   * until retryMs has passed. Throws CopyRefused when COPY cannot take the rows (use the fallback).
   * `work` opens and commits its transaction itself, calling `touch` as each statement completes
   * (DB_TIMEOUT_MS is per statement); on a failure, a live connection is rolled back. `shrinks`:
   * whether a transient failure should go back to the caller, to be retried in smaller parts.
   */
  async function transaction<T>(work: (client: Client, touch: () => void) => Promise<T>, shrinks: () => boolean = () => false): Promise<T> {
    const until = Date.now() + options.retryMs;
    for (let n = 0; ; n++) {
      let client: Client;
      try {
        client = await borrow();
      } catch (error) {
        const failure = classifyWs(error, true);
        // An answer no retry changes (a bad password) is the request's answer; anything else: no WebSocket today.
        if (failure instanceof IngestError) throw failure;
        if (failure instanceof TransientDatabaseError) logTransient("no WebSocket: this request goes on over HTTP", failure);
        unavailable = true;
        throw new CopyRefused("no WebSocket could be opened", { cause: error });
      }
      const started = Date.now();
      let failure: Error;
      try {
        const done = await deadline(
          options.timeoutMs,
          "a statement of a COPY transaction",
          (touch) => work(client, touch),
          () => discard(client),
        );
        giveBack(client);
        return done;
      } catch (error) {
        const refusedAtConnect = !pastTheProxy.has(client);
        failure = classifyWs(error, refusedAtConnect);
        // The proxy or PostgreSQL refused the session (pipelined: at the first query): no WebSocket today.
        if (refusedAtConnect && !(failure instanceof IngestError)) {
          if (failure instanceof TransientDatabaseError) logTransient("no WebSocket: this request goes on over HTTP", failure);
          discard(client);
          unavailable = true;
          throw new CopyRefused("no WebSocket could be opened", { cause: failure });
        }
      } finally {
        clock.dbSeconds += (Date.now() - started) / 1000;
      }
      // Rolled back on a live connection: it serves the next transaction.
      if (refusesData(failure)) {
        await client.query("ROLLBACK").catch(() => {});
        giveBack(client);
        throw new CopyRefused(failure.message, { cause: failure });
      }
      discard(client);
      if (failure instanceof TransientDatabaseError && shrinks()) {
        logTransient("retry the group chunk by chunk", failure);
        throw failure;
      }
      const wait = Math.min(2000, 100 * 2 ** n) * (0.5 + Math.random());
      if (!(failure instanceof TransientDatabaseError) || Date.now() + wait > until) throw failure;
      logTransient(`retry in ${Math.round(wait)} ms`, failure);
      await new Promise((resolve) => setTimeout(resolve, wait));
    }
  }

  /** Chunks waiting for the connection: the next transaction takes all of them, in one query. */
  const queued: { copy: EntityCopy; settle(outcome: number | "alone" | Error): void }[] = [];
  let flushing = false;

  /**
   * COPYs a chunk together with the chunks waiting beside it (a batch's or a flush's other
   * entities): one query, one commit. Resolves to the rows inserted, or "alone": the group was
   * refused, try this chunk by itself.
   */
  function copyInGroup(copy: EntityCopy): Promise<number | "alone"> {
    return new Promise((resolve, reject) => {
      queued.push({ copy, settle: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)) });
      if (!flushing) void flushGroups();
    });
  }

  async function flushGroups(): Promise<void> {
    flushing = true;
    while (queued.length > 0) {
      let group: typeof queued | undefined;
      try {
        const inserted = await transaction(
          (client, touch) => {
            // Taken once the connection is there: the chunks queued while it was awaited join in.
            group ??= queued.splice(0);
            return copyIn(
              client,
              group.map((q) => q.copy),
              touch,
            );
          },
          // A group that failed for a transient reason is retried chunk by chunk: a retry asks less.
          () => (group?.length ?? 0) > 1,
        );
        for (const [i, q] of group!.entries()) q.settle(inserted[i]);
      } catch (error) {
        group ??= queued.splice(0);
        const alone = group.length > 1 && (error instanceof CopyRefused || error instanceof TransientDatabaseError);
        for (const q of group) q.settle(alone ? "alone" : (error as Error));
      }
    }
    flushing = false;
  }

  /** An entity's chunk that found no existing row ends its replay: COPY straight into the table next time. */
  function noteInserted(entity: EntityDef, rows: number, inserted: number): void {
    if (inserted === rows) conflicted.delete(entity.name);
  }

  /** A chunk through the INSERT writer (a refused row, text COPY cannot carry, no WebSocket). */
  async function insertChunk(entity: EntityDef, rows: RowToWrite[]): Promise<number> {
    const inserted = await fallback.writeChunk(entity, rows);
    noteInserted(entity, rows.length, inserted);
    return inserted;
  }

  /** A chunk COPYed into its table, or staged; a COPY that meets existing keys is staged once, and the entity remembered. */
  async function copyChunk(entity: EntityDef, rows: RowToWrite[], staged: boolean): Promise<number> {
    if (unavailable) return insertChunk(entity, rows);
    const chunk = entityCopy(
      entity,
      rows.map((row) => row.json),
      staged,
    );
    if (chunk === UNENCODABLE) return insertChunk(entity, rows);
    try {
      let inserted = await copyInGroup(chunk);
      if (inserted === "alone") {
        if (unavailable) return insertChunk(entity, rows);
        [inserted] = await transaction((client, touch) => copyIn(client, [chunk], touch));
      }
      noteInserted(entity, rows.length, inserted);
      return inserted;
    } catch (error) {
      if (!(error instanceof CopyRefused)) throw error;
      if (!staged && existingKeys(error)) {
        conflicted.add(entity.name);
        return copyChunk(entity, rows, true);
      }
      // A row the database refuses: the service bisects over this same WebSocket, each step one
      // more query on it and no subrequest (over HTTP each step would be a fetch: ~14 per bad row).
      if (refusesData(error.cause as Error)) throw error.cause;
      return insertChunk(entity, rows);
    }
  }

  /**
   * Every row and the extra statements in one transaction: each entity COPYed, or staged while it
   * is remembered (`stageAll`: every entity, after existing keys refused the COPY).
   */
  async function copyTransaction(rows: RowToWrite[], extra: Statement[], stageAll: boolean): Promise<WriteResult> {
    const groups = groupRows(rows);
    const chars = rows.reduce((n, row) => n + row.json.length + 1, 0);
    // Over the limit, the fallback gives the same answer (body_too_large) whatever the rows hold.
    if (unavailable || chars > TRANSACTION_MAX_CHARS) return fallback.writeTransaction(rows, extra);
    const staged = [...groups.keys()].map((entity) => stageAll || conflicted.has(entity.name));
    const copies = [...groups].map(([entity, jsons], i) => entityCopy(entity, jsons, staged[i]));
    if (copies.includes(UNENCODABLE)) return fallback.writeTransaction(rows, extra);
    try {
      return await transaction(async (client, touch) => {
        const inserted = await copyIn(client, copies as EntityCopy[], touch, false);
        for (const statement of extra) {
          await client.query(statement.query, statement.params);
          touch();
        }
        await client.query("COMMIT");
        const result: WriteResult = { inserted: 0, duplicates: 0, failed: [], byEntity: {} };
        for (const [i, [entity, jsons]] of [...groups].entries()) {
          const duplicates = jsons.length - inserted[i];
          result.byEntity[entity.name] = { inserted: inserted[i], duplicates, failed: 0 };
          result.inserted += inserted[i];
          result.duplicates += duplicates;
          noteInserted(entity, jsons.length, inserted[i]);
        }
        return result;
      });
    } catch (error) {
      if (!(error instanceof CopyRefused)) throw error;
      if (staged.includes(false) && existingKeys(error)) {
        // Which entity met existing rows is not said: all of them are staged, and remembered.
        for (const entity of groups.keys()) conflicted.add(entity.name);
        return copyTransaction(rows, extra, true);
      }
      return fallback.writeTransaction(rows, extra);
    }
  }

  return {
    limits: fallback.limits,

    writeChunk: (entity: EntityDef, rows: RowToWrite[]) => copyChunk(entity, rows, conflicted.has(entity.name)),

    writeTransaction: (rows: RowToWrite[], extra: Statement[]) => copyTransaction(rows, extra, false),

    writeOne: (entity, json, children) => fallback.writeOne(entity, json, children),

    // The fallback shares the request's clock: its fetches and these WebSockets on one count.
    subrequests: () => clock.subrequests ?? 0,

    prepare(): void {
      if (unavailable || prepared || all.size + opening > 0) return;
      prepared = connect();
      // Its failure is the first chunk's to handle (or nobody's, when no row comes).
      prepared.catch(() => {});
    },

    async close(): Promise<void> {
      // A connection still opening ahead is closed with the rest.
      await prepared?.catch(() => {});
      prepared = undefined;
      const clients = [...all];
      all.clear();
      isolateSockets.open -= clients.length;
      idle.length = 0;
      // Bounded: a connection that went bad must not hold the request open.
      await Promise.all(clients.map((c) => deadline(1000, "closing a WebSocket", c.end(), () => {}).catch(() => {})));
      await fallback.close();
    },
  };
}
