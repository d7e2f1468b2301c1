/**
 * PGlite behind the local WebSocket endpoint: one client's PostgreSQL wire protocol session on the
 * embedded database. PGlite's own protocol handler (execProtocolRaw) answers every message but
 * `COPY … FROM STDIN`, which it cannot take (it has no socket to read the rows from); this session
 * answers that itself, as PostgreSQL does (protocol-flow.html, "COPY Operations" and "Multiple
 * Statements in a Simple Query"): CopyInResponse, the client's CopyData collected until CopyDone,
 * then PGlite's `COPY … FROM '/dev/blob'` with those rows, whose CommandComplete (`COPY n`) or
 * ErrorResponse (the real SQLSTATE) goes to the client. A simple Query that holds such a COPY among
 * other statements runs them in order, stops at the first error, and ends with one ReadyForQuery
 * in the transaction state PostgreSQL would report. CopyData, CopyDone and CopyFail outside a COPY
 * are dropped, as PostgreSQL drops the rows a client sent behind a COPY that failed.
 * PGlite is one session: a client holds it (`lease`) from its first message until a ReadyForQuery
 * says idle, so a transaction never interleaves with another client's or the HTTP endpoint's.
 */
import type { PGlite } from "@electric-sql/pglite";

/** The single PGlite session, held until `release`. */
export interface PgliteLease {
  pglite: PGlite;
  release(): Promise<void>;
}

/** A backend message: type byte, length, body. */
export function message(type: string, body: Buffer): Buffer {
  const head = Buffer.alloc(5);
  head.write(type, 0, "latin1");
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
}

/** An ErrorResponse: severity, SQLSTATE (optional) and message. */
export function errorResponse(severity: string, text: string, code?: string): Buffer {
  const fields = [`S${severity}`, `V${severity}`, ...(code ? [`C${code}`] : []), `M${text}`];
  return message("E", Buffer.concat([...fields.map((f) => Buffer.from(`${f}\0`, "utf8")), Buffer.from([0])]));
}

const query = (sql: string) => message("Q", Buffer.from(`${sql}\0`, "utf8"));

/** The typed messages in `data`, whole. */
export function* messages(data: Uint8Array): Generator<{ type: string; body: Buffer; whole: Buffer }> {
  const buffer = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  for (let at = 0; at + 5 <= buffer.length; ) {
    const end = at + 1 + buffer.readInt32BE(at + 1);
    yield { type: String.fromCharCode(buffer[at]), body: buffer.subarray(at + 5, end), whole: buffer.subarray(at, end) };
    at = end;
  }
}

/**
 * A simple query's statements, split at the semicolons outside quotes, quoted identifiers, comments
 * and dollar quotes (PostgreSQL's scanner, reduced to what ends a statement).
 */
export function splitStatements(sql: string): string[] {
  const statements: string[] = [];
  let start = 0;
  for (let i = 0; i < sql.length; i++) {
    const c = sql[i];
    if (c === "'" || c === '"') i = sql.indexOf(c, i + 1) < 0 ? sql.length : skipQuoted(sql, i, c);
    else if (c === "-" && sql[i + 1] === "-") i = sql.indexOf("\n", i) < 0 ? sql.length : sql.indexOf("\n", i);
    else if (c === "/" && sql[i + 1] === "*") i = sql.indexOf("*/", i + 2) < 0 ? sql.length : sql.indexOf("*/", i + 2) + 1;
    else if (c === "$") {
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(sql.slice(i))?.[0];
      if (tag && !/[A-Za-z_0-9]/.test(sql[i - 1] ?? "")) {
        const close = sql.indexOf(tag, i + tag.length);
        i = close < 0 ? sql.length : close + tag.length - 1;
      }
    } else if (c === ";") {
      statements.push(sql.slice(start, i));
      start = i + 1;
    }
  }
  statements.push(sql.slice(start));
  return statements.map((s) => s.trim()).filter((s) => s !== "");
}

/** The index of the quote that closes the one at `at` (a doubled quote is part of the text). */
function skipQuoted(sql: string, at: number, quote: string): number {
  for (let i = at + 1; i < sql.length; i++) {
    if (sql[i] !== quote) continue;
    if (sql[i + 1] === quote) i++;
    else return i;
  }
  return sql.length;
}

/** `COPY table [(columns)] FROM STDIN [options]`: the parts this session needs, or undefined. */
const COPY_FROM_STDIN = /^COPY\s+((?:"(?:[^"]|"")*"|[^\s(".]+)(?:\.(?:"(?:[^"]|"")*"|[^\s(".]+))?)\s*(\(([^)]*)\))?\s+FROM\s+STDIN\b/i;

/** Statements that open or end a transaction block: a query holding one is not wrapped in an implicit block. */
const TRANSACTION_CONTROL = /^(BEGIN|START|COMMIT|END|ROLLBACK|ABORT|SAVEPOINT|RELEASE|PREPARE\s+TRANSACTION)\b/i;

/** The session's last ReadyForQuery status: I idle, T in a transaction block, E in a failed one. */
type Status = "I" | "T" | "E";

/**
 * One client's session on PGlite. `write` takes the client's bytes after the startup (whole
 * messages or not); `send` receives every byte PostgreSQL would send back.
 */
export class PgliteSession {
  private readonly lease: () => Promise<PgliteLease>;
  private readonly send: (data: Buffer) => void;
  private held: PgliteLease | undefined;
  private status: Status = "I";
  /** Whether the last message was answered with a ReadyForQuery (a Parse or Bind alone is not). */
  private ready = false;
  private pending = Buffer.alloc(0);
  private readonly queue: Buffer[] = [];
  private wake: (() => void) | undefined;
  private ended = false;
  /** Resolves once every message received has run and the session has ended. */
  readonly done: Promise<void>;

  constructor(lease: () => Promise<PgliteLease>, send: (data: Buffer) => void) {
    this.lease = lease;
    this.send = send;
    // A session that breaks (PGlite failed) ends: the endpoint closes the client's WebSocket, as a server would.
    this.done = this.serve().catch(() => {});
  }

  /** What PostgreSQL sends after the password, up to its BackendKeyData: AuthenticationOk and its parameters. */
  static async greeting(lease: () => Promise<PgliteLease>): Promise<Buffer> {
    const held = await lease();
    let settings: Uint8Array;
    try {
      settings = await held.pglite.execProtocolRaw(
        query(
          "SELECT name, setting FROM pg_settings WHERE name IN ('server_version', 'server_encoding', 'client_encoding', 'DateStyle', 'IntervalStyle', 'TimeZone', 'integer_datetimes', 'standard_conforming_strings')",
        ),
      );
    } finally {
      await held.release();
    }
    const parameters: Buffer[] = [];
    for (const m of messages(settings)) {
      if (m.type !== "D") continue;
      const nameLength = m.body.readInt32BE(2);
      const name = m.body.subarray(6, 6 + nameLength).toString("utf8");
      const value = m.body.subarray(10 + nameLength).toString("utf8");
      parameters.push(message("S", Buffer.from(`${name}\0${value}\0`, "utf8")));
    }
    return Buffer.concat([message("R", Buffer.alloc(4)), ...parameters]);
  }

  write(data: Buffer): void {
    this.pending = this.pending.length === 0 ? data : Buffer.concat([this.pending, data]);
    for (const m of messages(this.pending)) {
      if (m.whole.length < 5 || m.body.length !== m.whole.readInt32BE(1) - 4) break;
      this.queue.push(Buffer.from(m.whole));
      this.pending = this.pending.subarray(m.whole.length);
    }
    this.wake?.();
  }

  /** The client went away: what it sent still runs (PostgreSQL read it), then an open transaction rolls back. */
  end(): Promise<void> {
    this.ended = true;
    this.wake?.();
    return this.done;
  }

  /** The next message from the client, or undefined once it is gone and nothing is left. */
  private async next(): Promise<{ type: string; body: Buffer; whole: Buffer } | undefined> {
    while (this.queue.length === 0) {
      if (this.ended) return undefined;
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    return messages(this.queue.shift()!).next().value;
  }

  private async serve(): Promise<void> {
    try {
      for (let m = await this.next(); m; m = await this.next()) {
        if (m.type === "X") break;
        // Rows behind a COPY that failed, or for none: dropped, as PostgreSQL does (postgres.c, PostgresMain).
        if (m.type === "d" || m.type === "c" || m.type === "f") continue;
        this.held ??= await this.lease();
        this.ready = false;
        const sql = m.type === "Q" ? m.body.subarray(0, m.body.indexOf(0)).toString("utf8") : "";
        const statements = m.type === "Q" ? splitStatements(sql) : [];
        if (statements.some((s) => COPY_FROM_STDIN.test(s))) await this.simpleQueryWithCopy(statements);
        else this.answer(await this.held.pglite.execProtocolRaw(m.whole));
        await this.releaseWhenIdle();
      }
    } finally {
      this.ended = true;
      if (this.held && this.status !== "I") await this.held.pglite.execProtocolRaw(query("ROLLBACK")).catch(() => {});
      await this.held?.release();
      this.held = undefined;
    }
  }

  /** Idle: another client (or the HTTP endpoint) may have the session until this one's next message. */
  private async releaseWhenIdle(): Promise<void> {
    if (!this.ready || this.status !== "I" || !this.held) return;
    const held = this.held;
    this.held = undefined;
    await held.release();
  }

  /** Sends PGlite's answer on, noting the status of its ReadyForQuery. */
  private answer(output: Uint8Array): void {
    for (const m of messages(output)) {
      if (m.type !== "Z") continue;
      this.status = m.body.toString("latin1") as Status;
      this.ready = true;
    }
    if (output.length > 0) this.send(Buffer.from(output));
  }

  /**
   * Runs PGlite's answer to `sql` without its ReadyForQuery: the statements of one simple query
   * answer with one ReadyForQuery at its end. Returns whether it failed.
   */
  private async run(sql: string, blob?: Uint8Array): Promise<boolean> {
    const pglite = this.held!.pglite;
    // PGlite's COPY FROM '/dev/blob' reads the blob that query(…, { blob }) hands it; here, the raw protocol's.
    if (blob) await pglite._handleBlob(new Blob([blob]));
    let output: Uint8Array;
    try {
      output = await pglite.execProtocolRaw(query(sql));
    } finally {
      if (blob) await pglite._cleanupBlob();
    }
    let failed = false;
    const kept: Buffer[] = [];
    for (const m of messages(output)) {
      if (m.type === "Z") this.status = m.body.toString("latin1") as Status;
      else kept.push(m.whole);
      if (m.type === "E") failed = true;
    }
    if (kept.length > 0) this.send(Buffer.concat(kept));
    return failed;
  }

  private silently(sql: string): Promise<Uint8Array> {
    return this.held!.pglite.execProtocolRaw(query(sql));
  }

  /**
   * A simple query holding `COPY … FROM STDIN`: its statements in order (the others in runs, as one
   * query each), the COPY's rows read from the client's CopyData. Without a BEGIN of its own, the
   * query is one implicit transaction, as PostgreSQL runs it: all of it commits, or none.
   */
  private async simpleQueryWithCopy(statements: string[]): Promise<void> {
    const implicit = this.status === "I" && statements.length > 1 && !statements.some((s) => TRANSACTION_CONTROL.test(s));
    if (implicit) await this.silently("BEGIN");
    let failed = false;
    for (let i = 0; i < statements.length && !failed; ) {
      let j = i;
      while (j < statements.length && !COPY_FROM_STDIN.test(statements[j])) j++;
      if (j > i) failed = await this.run(statements.slice(i, j).join("; "));
      else failed = await this.copyFromStdin(statements[j++]);
      i = Math.max(j, i + 1);
    }
    if (implicit) {
      await this.silently(failed ? "ROLLBACK" : "COMMIT");
      // A failed implicit block is rolled back: PostgreSQL reports idle.
      this.status = "I";
    }
    this.send(message("Z", Buffer.from(this.status)));
    this.ready = true;
  }

  /**
   * One `COPY … FROM STDIN`: CopyInResponse, then the client's rows until CopyDone, then PGlite's COPY
   * of them. A table that is not there (or a failed transaction) is refused before any row, as
   * PostgreSQL refuses it: the COPY runs at once with no rows, and its error goes back.
   */
  private async copyFromStdin(statement: string): Promise<boolean> {
    const [, table, , columnList] = COPY_FROM_STDIN.exec(statement)!;
    const fromBlob = statement.replace(/\bFROM\s+STDIN\b/i, "FROM '/dev/blob'");
    const columns = await this.columnCount(table, columnList);
    if (columns === undefined) return this.run(fromBlob, new Uint8Array());
    // Text format, every column in text (format 0).
    const response = Buffer.alloc(3 + 2 * columns);
    response.writeInt16BE(columns, 1);
    this.send(message("G", response));
    const rows: Buffer[] = [];
    for (;;) {
      const m = await this.next();
      // The client went away mid-COPY: PostgreSQL fails the COPY (08P01) to nobody; the session rolls back.
      if (!m) return true;
      if (m.type === "d") rows.push(Buffer.from(m.body));
      else if (m.type === "c") break;
      else if (m.type === "f") return this.fail("57014", `COPY from stdin failed: ${m.body.subarray(0, m.body.indexOf(0)).toString("utf8")}`);
      // Flush and Sync are ignored during COPY IN (protocol-flow.html, "COPY Operations").
      else if (m.type !== "H" && m.type !== "S")
        return this.fail("08P01", `unexpected message type 0x${m.whole[0].toString(16).toUpperCase()} during COPY from stdin`);
    }
    return this.run(fromBlob, Buffer.concat(rows));
  }

  /** The columns the COPY takes, or undefined when its table is not there or the transaction failed. */
  private async columnCount(table: string, columnList: string | undefined): Promise<number | undefined> {
    if (this.status === "E") return undefined;
    if (columnList !== undefined) return splitList(columnList);
    const literal = `'${table.replaceAll("'", "''")}'`;
    const output = await this.silently(
      `SELECT count(*) FROM pg_attribute WHERE attrelid = to_regclass(${literal}) AND attnum > 0 AND NOT attisdropped HAVING to_regclass(${literal}) IS NOT NULL`,
    );
    for (const m of messages(output)) if (m.type === "D") return Number(m.body.subarray(6).toString("utf8"));
    return undefined;
  }

  /** An error of this session's own (CopyFail, a protocol violation), as PostgreSQL words it. */
  private async fail(code: string, text: string): Promise<boolean> {
    this.send(errorResponse("ERROR", text, code));
    // The statement failed: the transaction block (if any) is now a failed one, as PostgreSQL's would be.
    if (this.status === "T") {
      await this.silently("SELECT 1/0");
      this.status = "E";
    }
    return true;
  }
}

/** The number of names in a column list. */
const splitList = (list: string) => list.split(",").filter((name) => name.trim() !== "").length;
