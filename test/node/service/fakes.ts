/** Fakes for the ingest service's ports (src/ingest/ports.ts): a writer over a Set, stores over arrays, a queue that records. */
import { ANONYMOUS, type Principal } from "../../../src/auth/api-keys.ts";
import type { EntityDef } from "../../../src/entity/entity.ts";
import { settingsOf } from "../../../src/env.ts";
import { IngestError, TransientDatabaseError } from "../../../src/errors.ts";
import type { IngestCall } from "../../../src/ingest/call.ts";
import type { BodyFormat } from "../../../src/ingest/parsed-body.ts";
import type { IdempotencyStore, QuarantineStore, StoredAnswer } from "../../../src/ingest/ports.ts";
import { newMeter } from "../../../src/stats/stats-delta.ts";
import { withBisection } from "../../../src/writer/bisect.ts";
import { RowsRejected, type Statement, type WriteResult, type Writer } from "../../../src/writer/port.ts";
import type { RejectionOrigin, RejectionRecord } from "../../../src/writer/rejections.ts";
import type { RowToWrite } from "../../../src/writer/rows.ts";

/** What the fake database holds, and how it misbehaves. */
export interface FakeDatabase {
  rows: Set<string>;
  rejections: RejectionRecord[];
  keys: Map<string, { hash: string; answer?: StoredAnswer }>;
  queued: { rows: RowToWrite[]; rejections: RejectionRecord[] }[];
  /** Every write fails as if the database were down. */
  down: boolean;
  /** A row whose JSON holds this is refused by the database (a check violation). */
  refuse?: string;
  transactions: Statement[][];
}

export const fakeDatabase = (): FakeDatabase => ({ rows: new Set(), rejections: [], keys: new Map(), queued: [], down: false, transactions: [] });

const keyOf = (entity: EntityDef, json: string) => `${entity.name} ${json}`;

/** A writer over the fake database: natural-key duplicates are rows already in the Set. */
export function fakeWriter(db: FakeDatabase): Writer {
  const check = (rows: RowToWrite[]) => {
    if (db.down) throw new TransientDatabaseError("fake: the database is down");
    const bad = db.refuse && rows.find((r) => r.json.includes(db.refuse!));
    if (bad) throw new RowsRejected("fake: new row violates check constraint", "23514");
  };
  const put = (rows: RowToWrite[]): WriteResult => {
    const result: WriteResult = { inserted: 0, duplicates: 0, failed: [], byEntity: {} };
    for (const r of rows) {
      const counts = (result.byEntity[r.entity.name] ??= { inserted: 0, duplicates: 0, failed: 0 });
      const key = keyOf(r.entity, r.json);
      if (db.rows.has(key)) {
        result.duplicates++;
        counts.duplicates++;
      } else {
        db.rows.add(key);
        result.inserted++;
        counts.inserted++;
      }
    }
    return result;
  };
  return {
    limits: { maxRows: 100, maxChars: 1 << 20, concurrency: 2 },
    async writeChunk(entity, rows) {
      check(rows);
      return put(rows.map((r) => ({ ...r, entity }))).inserted;
    },
    async writeTransaction(rows, extra) {
      check(rows);
      db.transactions.push(extra);
      return put(rows);
    },
    async writeOne(entity, json) {
      check([{ entity, json, lineNumber: 1 }]);
      const duplicate = db.rows.has(keyOf(entity, json));
      db.rows.add(keyOf(entity, json));
      return { id: db.rows.size, duplicate, children: {} };
    },
    subrequests: () => 0,
    prepare() {},
    async close() {},
  };
}

export function fakeQuarantine(db: FakeDatabase): QuarantineStore {
  return {
    statements: (_origin: RejectionOrigin, records: RejectionRecord[]) => [{ query: "INSERT rejections", params: [JSON.stringify(records)] }],
    async insert(_origin, records) {
      if (db.down) throw new TransientDatabaseError("fake: the database is down");
      db.rejections.push(...records);
    },
    list: async () => ({ rows: [], more: false }),
    markReplayed: async () => {},
    delete: async () => ({ deleted: 0, more: false }),
  };
}

export function fakeIdempotency(db: FakeDatabase): IdempotencyStore {
  return {
    async find(owner, key, hash) {
      const found = db.keys.get(`${owner} ${key}`);
      if (found && found.hash !== hash) throw new IngestError("conflict", "another body");
      return found?.answer;
    },
    claim: (owner, key, hash) => {
      db.keys.set(`${owner} ${key}`, { hash });
      return { query: "CLAIM", params: [owner ?? "", key, hash] };
    },
    async save(owner, key, hash, answer) {
      db.keys.set(`${owner} ${key}`, { hash, answer });
    },
  };
}

/** A call as src/compose.ts builds it, over the fakes. */
export function fakeCall(
  db: FakeDatabase,
  body: string,
  options: { format?: BodyFormat; vars?: Record<string, string>; principal?: Principal } = {},
): IngestCall {
  const format = options.format ?? "text";
  const type = { text: "text/plain", ndjson: "application/x-ndjson", json: "application/json" }[format];
  return {
    settings: settingsOf({ DATABASE_URL: "postgres://u@h/db", DB_RETRY_MS: "0", ...options.vars }),
    openWriter: () => withBisection(fakeWriter(db)),
    idempotency: fakeIdempotency(db),
    quarantine: fakeQuarantine(db),
    async enqueue(_keyId, rows, _errors, _failed, quarantine) {
      db.queued.push({ rows, rejections: quarantine?.rejections ?? [] });
      return { ingestId: "00000000-0000-0000-0000-000000000001", parts: 1 };
    },
    explain: async (error) => error,
    waitUntil: () => {},
    now: () => 1_000_000,
    request: new Request("http://test/ingest/batch", { method: "POST", body, headers: { "content-type": type } }),
    format,
    principal: options.principal ?? ANONYMOUS,
    requestId: "req-1",
    meter: newMeter(),
  };
}
