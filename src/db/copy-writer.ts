/**
 * The optimistic COPY writer's policy: bulk rows go to PostgreSQL with COPY … FROM STDIN over Neon's
 * WebSocket protocol (copy-protocol.ts, over copy-socket.ts): the chunks waiting for the request's
 * connection in one transaction, sent as one query with their rows. New rows, the common case, then
 * cost the database what COPY costs. A chunk whose natural keys exist already (23505) is rolled back
 * and staged: COPY into a temporary table, then INSERT … SELECT … ON CONFLICT DO NOTHING, in the same
 * kind of query, which gives exact counts. What COPY cannot take it declines (writer/fallback.ts:
 * openWriter hands it to the INSERT writer); single messages are always declined.
 * docs/bulk-writer.md has the measurements behind these choices.
 */
import type { Client } from "@neondatabase/serverless";
import { type EntityDef, groupRows } from "../entity/entity.ts";
import { IngestError, TransientDatabaseError } from "../errors.ts";
import { retrying } from "../writer/backoff.ts";
import { Declined } from "../writer/fallback.ts";
import type { Statement, WriteLimits, WriteResult, Writer } from "../writer/port.ts";
import type { RowToWrite } from "../writer/rows.ts";
import { copyResult, declineChunk, noteInserted } from "./copy-conflicts.ts";
import { classifyWs, copyIn, type EntityCopy, entityCopy, existingKeys, pastTheProxy, refusesData } from "./copy-protocol.ts";
import { deadline, type SocketCount, SocketPool } from "./copy-socket.ts";
import { UNENCODABLE } from "./copy-text.ts";
import { type DbClock, INSERT_LIMITS } from "./insert-writer.ts";
import { logTransient } from "./neon-answers.ts";

export interface CopyWriterOptions {
  connectionString: string;
  /** Dev/test only: the local WebSocket endpoint (NEON_WS_PROXY). Unset: Neon's own, with the library's defaults. */
  wsProxy?: string;
  /** How the service cuts rows for it: the INSERT writer's, so a declined chunk fits the fallback. */
  limits?: WriteLimits;
  clock?: DbClock;
  /** One attempt's deadline (DB_TIMEOUT_MS): connecting, or one chunk's transaction. */
  timeoutMs: number;
  /** How long transient failures are retried (DB_RETRY_MS). */
  retryMs: number;
  /** The isolate's memory: staged entities, staging tables, WebSockets (db/isolate.ts). */
  isolate: CopyCache;
}

/** What the COPY writer keeps per isolate (DbIsolate, db/isolate.ts). */
export interface CopyCache {
  /**
   * Entities whose chunks are staged: after a chunk met existing rows, this isolate stages that
   * entity's chunks until one finds no duplicate (a replay pays one failed COPY, not one per chunk).
   */
  conflicted: Set<string>;
  /** Staging tables' names: unique in the isolate, so the chunks of one query never share one. */
  stages: { next: number };
  sockets: SocketCount;
}

/** Rows in one transaction, as the INSERT writer takes them (one Neon request): the same limit on both paths. */
const TRANSACTION_MAX_CHARS = INSERT_LIMITS.maxChars;

/** The database or the WebSocket said no; `fallback`: COPY cannot take these rows as they are. */
class CopyRefused extends Error {}

/** Made once: the message path is hot, and this refusal carries nothing per call. */
const SINGLE_MESSAGE = new Declined("single messages go over HTTP");

class CopyWriter implements Writer {
  readonly limits: WriteLimits;
  private readonly options: CopyWriterOptions;
  private readonly clock: DbClock;
  private readonly sockets: SocketPool;
  private readonly conflicted: Set<string>;
  /** No WebSocket could be opened: the rest of this request is declined (the fallback writes it). */
  private unavailable = false;
  /** Chunks waiting for the connection: the next transaction takes all of them, in one query. */
  private readonly queued: { copy: EntityCopy; settle(outcome: number | "alone" | Error): void }[] = [];
  private flushing = false;

  constructor(options: CopyWriterOptions) {
    this.options = options;
    this.limits = options.limits ?? INSERT_LIMITS;
    this.clock = options.clock ?? { dbSeconds: 0 };
    this.conflicted = options.isolate.conflicted;
    this.sockets = new SocketPool({
      connectionString: options.connectionString,
      wsProxy: options.wsProxy,
      clock: this.clock,
      timeoutMs: options.timeoutMs,
      sockets: options.isolate.sockets,
    });
  }

  /** No WebSocket today: an answer no retry changes (a bad password) is the request's; anything else sends the request over HTTP. */
  private noSocket(failure: Error, cause: unknown): CopyRefused {
    if (failure instanceof TransientDatabaseError) logTransient("no WebSocket: this request goes on over HTTP", failure);
    this.unavailable = true;
    return new CopyRefused("no WebSocket could be opened", { cause });
  }

  /**
   * One attempt at a transaction on a pooled connection. Throws CopyRefused when COPY cannot take the
   * rows; on a failure, a live connection is rolled back and given back, a broken one discarded.
   */
  private async attempt<T>(work: (client: Client, touch: () => void) => Promise<T>): Promise<T> {
    let client: Client;
    try {
      client = await this.sockets.borrow();
    } catch (error) {
      const failure = classifyWs(error, true);
      if (failure instanceof IngestError) throw failure;
      throw this.noSocket(failure, error);
    }
    const started = Date.now();
    let failure: Error;
    try {
      const done = await deadline(
        this.options.timeoutMs,
        "a statement of a COPY transaction",
        (touch) => work(client, touch),
        () => this.sockets.discard(client),
      );
      this.sockets.giveBack(client);
      return done;
    } catch (error) {
      const refusedAtConnect = !pastTheProxy.has(client);
      failure = classifyWs(error, refusedAtConnect);
      // The proxy or PostgreSQL refused the session (pipelined: at the first query): no WebSocket today.
      if (refusedAtConnect && !(failure instanceof IngestError)) {
        this.sockets.discard(client);
        throw this.noSocket(failure, failure);
      }
    } finally {
      this.clock.dbSeconds += (Date.now() - started) / 1000;
    }
    // Rolled back on a live connection: it serves the next transaction.
    if (refusesData(failure)) {
      await client.query("ROLLBACK").catch(() => {});
      this.sockets.giveBack(client);
      throw new CopyRefused(failure.message, { cause: failure });
    }
    this.sockets.discard(client);
    throw failure;
  }

  /**
   * Runs one transaction, retrying transient failures with a new connection until retryMs has
   * passed: this retry stays inside the writer, because it reuses the request's WebSocket (a
   * decorator around the Writer would queue the chunk again behind its group). `work` opens and
   * commits its transaction itself, calling `touch` as each statement completes (DB_TIMEOUT_MS is
   * per statement). `shrinks`: whether a transient failure should go back to the caller, to be
   * retried in smaller parts.
   */
  private transaction<T>(work: (client: Client, touch: () => void) => Promise<T>, shrinks: () => boolean = () => false): Promise<T> {
    return retrying(
      {
        retryMs: this.options.retryMs,
        classify: (error) => error as Error,
        transient: (failure) => {
          if (!(failure instanceof TransientDatabaseError)) return false;
          if (!shrinks()) return true;
          logTransient("retry the group chunk by chunk", failure);
          return false;
        },
        onRetry: (failure, wait) => logTransient(`retry in ${Math.round(wait)} ms`, failure as TransientDatabaseError),
      },
      () => this.attempt(work),
    );
  }

  /**
   * COPYs a chunk together with the chunks waiting beside it (a batch's or a flush's other
   * entities): one query, one commit. Resolves to the rows inserted, or "alone": the group was
   * refused, try this chunk by itself.
   */
  private copyInGroup(copy: EntityCopy): Promise<number | "alone"> {
    return new Promise((resolve, reject) => {
      this.queued.push({ copy, settle: (outcome) => (outcome instanceof Error ? reject(outcome) : resolve(outcome)) });
      if (!this.flushing) void this.flushGroups();
    });
  }

  private async flushGroups(): Promise<void> {
    this.flushing = true;
    while (this.queued.length > 0) {
      let group: typeof this.queued | undefined;
      try {
        const inserted = await this.transaction(
          (client, touch) => {
            // Taken once the connection is there: the chunks queued while it was awaited join in.
            group ??= this.queued.splice(0);
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
        group ??= this.queued.splice(0);
        const alone = group.length > 1 && (error instanceof CopyRefused || error instanceof TransientDatabaseError);
        for (const q of group) q.settle(alone ? "alone" : (error as Error));
      }
    }
    this.flushing = false;
  }

  /** A chunk COPYed into its table, or staged; a COPY that meets existing keys is staged once, and the entity remembered. */
  private async copyChunk(entity: EntityDef, rows: RowToWrite[], staged: boolean): Promise<number> {
    if (this.unavailable) throw declineChunk(this.conflicted, entity, rows, "no WebSocket in this request");
    const chunk = entityCopy(
      entity,
      rows.map((row) => row.json),
      staged,
      this.options.isolate.stages,
    );
    if (chunk === UNENCODABLE) throw declineChunk(this.conflicted, entity, rows, "text COPY cannot carry");
    try {
      let inserted = await this.copyInGroup(chunk);
      if (inserted === "alone") {
        if (this.unavailable) throw declineChunk(this.conflicted, entity, rows, "no WebSocket in this request");
        [inserted] = await this.transaction((client, touch) => copyIn(client, [chunk], touch));
      }
      noteInserted(this.conflicted, entity, rows.length, inserted);
      return inserted;
    } catch (error) {
      if (!(error instanceof CopyRefused)) throw error;
      if (!staged && existingKeys(error)) {
        this.conflicted.add(entity.name);
        return this.copyChunk(entity, rows, true);
      }
      // A row the database refuses: the service bisects over this same WebSocket, each step one
      // more query on it and no subrequest (over HTTP each step would be a fetch: ~14 per bad row).
      if (refusesData(error.cause as Error)) throw error.cause;
      throw declineChunk(this.conflicted, entity, rows, error.message);
    }
  }

  /**
   * Every row and the extra statements in one transaction: each entity COPYed, or staged while it
   * is remembered (`stageAll`: every entity, after existing keys refused the COPY).
   */
  private async copyTransaction(rows: RowToWrite[], extra: Statement[], stageAll: boolean): Promise<WriteResult> {
    const groups = groupRows(rows);
    const chars = rows.reduce((n, row) => n + row.json.length + 1, 0);
    // Over the limit, the fallback gives the same answer (body_too_large) whatever the rows hold.
    if (this.unavailable || chars > TRANSACTION_MAX_CHARS) throw new Declined("a transaction COPY does not take");
    const staged = [...groups.keys()].map((entity) => stageAll || this.conflicted.has(entity.name));
    const copies = [...groups].map(([entity, jsons], i) => entityCopy(entity, jsons, staged[i], this.options.isolate.stages));
    if (copies.includes(UNENCODABLE)) throw new Declined("text COPY cannot carry");
    try {
      return await this.transaction(async (client, touch) => {
        const inserted = await copyIn(client, copies as EntityCopy[], touch, false);
        for (const statement of extra) {
          await client.query(statement.query, statement.params);
          touch();
        }
        await client.query("COMMIT");
        return copyResult(this.conflicted, groups, inserted);
      });
    } catch (error) {
      if (!(error instanceof CopyRefused)) throw error;
      if (staged.includes(false) && existingKeys(error)) {
        // Which entity met existing rows is not said: all of them are staged, and remembered.
        for (const entity of groups.keys()) this.conflicted.add(entity.name);
        return this.copyTransaction(rows, extra, true);
      }
      throw new Declined(error.message);
    }
  }

  writeChunk(entity: EntityDef, rows: RowToWrite[]): Promise<number> {
    return this.copyChunk(entity, rows, this.conflicted.has(entity.name));
  }

  writeTransaction(rows: RowToWrite[], extra: Statement[]): Promise<WriteResult> {
    return this.copyTransaction(rows, extra, false);
  }

  writeOne(): Promise<never> {
    return Promise.reject(SINGLE_MESSAGE);
  }

  // The fallback shares the request's clock: its fetches and these WebSockets on one count.
  subrequests(): number {
    return this.clock.subrequests ?? 0;
  }

  prepare(): void {
    if (!this.unavailable) this.sockets.prepare();
  }

  close(): Promise<void> {
    return this.sockets.close();
  }
}

/** The COPY writer alone: compose it with withFallback (writer/fallback.ts) so what it declines is written. */
export const copyWriter = (options: CopyWriterOptions): Writer => new CopyWriter(options);
