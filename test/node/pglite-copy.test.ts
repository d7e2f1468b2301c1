/**
 * The local WebSocket endpoint's COPY FROM STDIN over PGlite (scripts/local-neon/pglite-wire.ts)
 * answers as PostgreSQL does: the same backend messages, in the same order, for the same client
 * bytes. Each case runs over PGlite and, when TEST_DATABASE_URL is set, over PostgreSQL, through
 * the same endpoint code, so a difference between the two shows.
 */
import { createRequire } from "node:module";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import type { WebSocket as WebSocketType } from "ws";
import { message, messages } from "../../scripts/local-neon/pglite-wire.ts";
import { type LocalNeon, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { freshDatabase } from "../support/database.ts";

const { WebSocket } = createRequire(import.meta.url)("ws") as { WebSocket: typeof WebSocketType };

const PASSWORD = "copy-secret";
const query = (sql: string) => message("Q", Buffer.from(`${sql}\0`, "utf8"));
const copyData = (text: string) => message("d", Buffer.from(text, "utf8"));
const copyDone = () => message("c", Buffer.alloc(0));

/** One backend message, as the tests compare it: its type and what matters of it. */
type Answer = string;

/** A raw session on the endpoint: startup, password, then whatever bytes a case sends. */
class Session {
  private readonly ws: WebSocketType;
  private received = Buffer.alloc(0);
  private waiting: (() => void) | undefined;

  private constructor(ws: WebSocketType) {
    this.ws = ws;
    ws.on("message", (data: Buffer) => {
      this.received = Buffer.concat([this.received, data]);
      this.waiting?.();
    });
  }

  static async open(wsProxy: string): Promise<Session> {
    const ws = new WebSocket(`ws://${wsProxy}`);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    const session = new Session(ws);
    const params = Buffer.from(`user\0app\0database\0main\0\0`, "utf8");
    const startup = Buffer.alloc(8);
    startup.writeInt32BE(8 + params.length);
    startup.writeInt32BE(196608, 4);
    ws.send(Buffer.concat([startup, params, message("p", Buffer.from(`${PASSWORD}\0`))]));
    await session.untilReady();
    return session;
  }

  /** Sends `bytes` in one write and reads the answers up to the ReadyForQuery that ends them. */
  async send(...bytes: Buffer[]): Promise<Answer[]> {
    this.ws.send(Buffer.concat(bytes));
    return this.untilReady();
  }

  private async untilReady(): Promise<Answer[]> {
    for (;;) {
      const answers: Answer[] = [];
      let at = 0;
      for (const m of messages(this.received)) {
        if (m.whole.length < 5 || m.body.length !== m.whole.readInt32BE(1) - 4) break;
        at += m.whole.length;
        answers.push(summary(m.type, m.body));
        if (m.type === "Z") {
          this.received = this.received.subarray(at);
          // Before the first query: authentication and parameters, which PGlite and PostgreSQL word differently.
          return answers.filter((a) => /^[ZECG]/.test(a));
        }
      }
      await new Promise<void>((resolve) => (this.waiting = resolve));
    }
  }

  close(): void {
    this.ws.close();
  }
}

/** CommandComplete's tag, ErrorResponse's SQLSTATE, ReadyForQuery's status, CopyInResponse's columns. */
function summary(type: string, body: Buffer): Answer {
  if (type === "C") return `C ${body.subarray(0, body.indexOf(0)).toString("utf8")}`;
  if (type === "Z") return `Z ${body.toString("latin1")}`;
  if (type === "G") return `G ${body.readInt16BE(1)} columns`;
  if (type === "E") {
    for (let at = 0; at < body.length && body[at] !== 0; at = body.indexOf(0, at) + 1)
      if (body[at] === 0x43) return `E ${body.subarray(at + 1, body.indexOf(0, at)).toString("utf8")}`;
  }
  return type;
}

const backends: [string, () => Promise<string | undefined>][] = [["pglite", async () => undefined]];
if (process.env.TEST_DATABASE_URL) backends.push(["postgres", () => freshDatabase("nomnom_test_pglite_copy")]);

describe.each(backends)("COPY FROM STDIN through the local WebSocket endpoint over %s", (_kind, database) => {
  let local: LocalNeon;
  let session: Session;
  const rows = async () => (await local.db.query({ query: "SELECT id, name FROM t ORDER BY id", params: [] })).rows;

  beforeAll(async () => {
    local = await startLocalNeon({ databaseUrl: await database(), pgliteWebSocket: true, migrate: false, password: PASSWORD });
    await local.db.query({ query: "CREATE TABLE t (id int PRIMARY KEY CHECK (id > 0), name text)", params: [] });
  });
  afterAll(() => local.close());
  beforeEach(async () => {
    session?.close();
    await local.db.query({ query: "TRUNCATE t", params: [] });
    session = await Session.open(local.wsProxy!);
  });

  it("answers a COPY alone with CopyInResponse, then its row count and ReadyForQuery idle", async () => {
    expect(await session.send(query("COPY t FROM STDIN"), copyData("1\ta\n2\t\\N\n"), copyDone())).toEqual(["G 2 columns", "C COPY 2", "Z I"]);
    expect(await rows()).toEqual([
      ["1", "a"],
      ["2", null],
    ]);
  });

  it("runs several statements and COPYs in one query, each answered in order, the rows sent behind the query", async () => {
    const answers = await session.send(
      query(
        "BEGIN; COPY t (id, name) FROM STDIN; CREATE TEMPORARY TABLE s ON COMMIT DROP AS SELECT id, name FROM t WITH NO DATA; COPY s FROM STDIN; INSERT INTO t SELECT * FROM s ON CONFLICT (id) DO NOTHING; COMMIT",
      ),
      copyData("1\ta\n2\tb\n"),
      copyDone(),
      copyData("2\tb\n3\tc\n4\td\n"),
      copyDone(),
    );
    expect(answers).toEqual(["C BEGIN", "G 2 columns", "C COPY 2", "C CREATE TABLE AS", "G 2 columns", "C COPY 3", "C INSERT 0 2", "C COMMIT", "Z I"]);
    expect(await rows()).toEqual([
      ["1", "a"],
      ["2", "b"],
      ["3", "c"],
      ["4", "d"],
    ]);
  });

  it("answers a bad row with its SQLSTATE, skips the rest of the query and its rows, and reports the failed transaction", async () => {
    const answers = await session.send(
      query("BEGIN; COPY t (id, name) FROM STDIN; COPY t (id, name) FROM STDIN; COMMIT"),
      copyData("1\ta\nnot a number\tb\n"),
      copyDone(),
      copyData("5\te\n"),
      copyDone(),
    );
    expect(answers).toEqual(["C BEGIN", "G 2 columns", "E 22P02", "Z E"]);
    // The transaction stays failed until it ends, as PostgreSQL's does.
    expect(await session.send(query("SELECT 1"))).toEqual(["E 25P02", "Z E"]);
    expect(await session.send(query("ROLLBACK"))).toEqual(["C ROLLBACK", "Z I"]);
    expect(await rows()).toEqual([]);
  });

  it.each([
    ["a CHECK violation", "0\tzero\n", "23514"],
    ["an existing key", "1\tagain\n", "23505"],
  ])("answers %s inside COPY with its SQLSTATE and the failed-transaction ReadyForQuery", async (_what, data, code) => {
    await local.db.query({ query: "INSERT INTO t VALUES (1, 'a')", params: [] });
    const answers = await session.send(query("BEGIN; COPY t (id, name) FROM STDIN; COMMIT"), copyData(data), copyDone());
    expect(answers).toEqual(["C BEGIN", "G 2 columns", `E ${code}`, "Z E"]);
    expect(await session.send(query("ROLLBACK"))).toEqual(["C ROLLBACK", "Z I"]);
    expect(await rows()).toEqual([["1", "a"]]);
  });

  it("runs a query without BEGIN as one implicit transaction: a failed COPY undoes the statements before it", async () => {
    const answers = await session.send(query("INSERT INTO t VALUES (7, 'g'); COPY t FROM STDIN"), copyData("x\ty\n"), copyDone());
    expect(answers).toEqual(["C INSERT 0 1", "G 2 columns", "E 22P02", "Z I"]);
    expect(await rows()).toEqual([]);
  });

  it("refuses a COPY into a table that is not there before any row, and drops the rows sent behind it", async () => {
    const answers = await session.send(query("COPY missing FROM STDIN"), copyData("1\n"), copyDone());
    expect(answers).toEqual(["E 42P01", "Z I"]);
    expect(await session.send(query("SELECT 1"))).toEqual(["C SELECT 1", "Z I"]);
  });

  it("answers CopyFail with 57014 and rolls the COPY back", async () => {
    const answers = await session.send(query("COPY t FROM STDIN"), copyData("1\ta\n"), message("f", Buffer.from("client gave up\0")));
    expect(answers).toEqual(["G 2 columns", "E 57014", "Z I"]);
    expect(await rows()).toEqual([]);
  });
});
