/**
 * Applies migrations/ to a database in order, each in one transaction with its row in the journal
 * table (inserted first, so two migrators running at once cannot both apply it: the second one's
 * primary key fails and its transaction rolls back). Databases made before the journal existed
 * (by 0001_entities and 0002_idempotency) are checked against those migrations and adopted.
 */
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { type JournalEntry, readJournal, STATEMENT_BREAK, sha256 } from "./compiler/migration-files.ts";
import type { SnapshotEntity } from "./compiler/schema-diff.ts";

/** The project's migrations/ (NOMNOM_MIGRATIONS_DIR: another folder, as the service's tests use test/project/migrations). */
export const MIGRATIONS_DIR = resolve(process.env.NOMNOM_MIGRATIONS_DIR || resolve(import.meta.dirname, "..", "migrations"));
/** The journal table: one row per applied migration. The Worker reads its level from here. */
export const JOURNAL_TABLE = "nomnom_migrations";

export interface Migration extends JournalEntry {
  statements: string[];
}

/** What the migrator needs from a database: a query, and statements that commit together or not at all. */
export interface Executor {
  query(sql: string, params?: (string | null)[]): Promise<(string | null)[][]>;
  transaction(statements: { sql: string; params: (string | null)[] }[]): Promise<void>;
}

export class MigrationError extends Error {}

export function readMigrations(dir = MIGRATIONS_DIR): Migration[] {
  return readJournal(dir).map((entry) => {
    const text = readFileSync(join(dir, `${entry.tag}.sql`), "utf8");
    if (sha256(text) !== entry.sha256)
      throw new MigrationError(`migrations/${entry.tag}.sql differs from the journal: migrations are append-only; restore it and run npm run build`);
    const statements = text
      .split(STATEMENT_BREAK)
      .map((s) => s.replace(/^--.*$/gm, "").trim())
      .filter((s) => s.length > 0);
    return { ...entry, statements };
  });
}

const CREATE_JOURNAL = `CREATE TABLE IF NOT EXISTS ${JOURNAL_TABLE} (
  id integer PRIMARY KEY,
  name text NOT NULL,
  sha256 text NOT NULL,
  breaks_older_workers boolean NOT NULL DEFAULT false,
  applied_at timestamptz NOT NULL DEFAULT now()
)`;

/**
 * The migrations that existed before the journal, and the tables each made (column → information_schema data_type).
 * None in a project that does not start with them (e.g. after npm run reset-project).
 */
function legacyTables(dir: string, migrations: Migration[]): Record<string, Record<string, Record<string, string>>> {
  if (migrations[0]?.tag !== "0001_entities" || migrations[1]?.tag !== "0002_idempotency") return {};
  const snapshot = JSON.parse(readFileSync(join(dir, "meta", "0001_snapshot.json"), "utf8")) as { entities: SnapshotEntity[] };
  const entities = Object.fromEntries(
    snapshot.entities.map((e) => [e.table, Object.fromEntries([[e.idColumn, e.idType], ...e.fields.map((f) => [f.column, dataType(f.sqlType)])])]),
  );
  return {
    "0001_entities": entities,
    "0002_idempotency": {
      ingest_idempotency: { key: "text", request_sha256: "text", status: "integer", response: "jsonb", created_at: "timestamp with time zone" },
    },
  };
}

const DATA_TYPE: Record<string, string> = { varchar: "character varying", timestamptz: "timestamp with time zone" };
function dataType(sqlType: string): string {
  const base = sqlType.replace(/\(.*\)$/, "");
  return base === "text[]" ? "ARRAY" : (DATA_TYPE[base] ?? base);
}

/**
 * A database with the legacy migrations' tables but no journal: each legacy migration whose tables are
 * all there, with their columns and types, can be recorded as applied (its IF NOT EXISTS statements
 * then run too, adding only what is missing, e.g. an index). The first one with none of its tables ends it.
 */
async function adoptable(db: Executor, dir: string, migrations: Migration[]): Promise<string[]> {
  const adopted: string[] = [];
  for (const [tag, tables] of Object.entries(legacyTables(dir, migrations))) {
    const names = Object.keys(tables);
    const rows = await db.query(
      "SELECT table_name, column_name, data_type FROM information_schema.columns WHERE table_schema = current_schema() AND table_name = ANY($1::text[])",
      [`{${names.join(",")}}`],
    );
    if (rows.length === 0) break;
    for (const [table, columns] of Object.entries(tables)) {
      if (!rows.some((r) => r[0] === table))
        throw new MigrationError(
          `cannot adopt this database: it has tables of ${tag} but not ${table}. Create it by hand as ${tag} does, or migrate into an empty database.`,
        );
      for (const [column, type] of Object.entries(columns)) {
        const found = rows.find((r) => r[0] === table && r[1] === column);
        if (!found)
          throw new MigrationError(
            `cannot adopt this database: table ${table} lacks column ${column}, which ${tag} creates. Add it by hand, or migrate into an empty database.`,
          );
        if (found[2] !== type) throw new MigrationError(`cannot adopt this database: ${table}.${column} is ${found[2]}, where ${tag} creates ${type}`);
      }
    }
    adopted.push(tag);
  }
  return adopted;
}

/** Two migrators creating the journal at once can collide in PostgreSQL's catalog (23505): then it exists. */
async function createJournal(db: Executor): Promise<void> {
  try {
    await db.query(CREATE_JOURNAL);
  } catch (error) {
    if ((error as { code?: string }).code !== "23505") throw error;
  }
}

const journalRow = (m: Migration) => ({
  sql: `INSERT INTO ${JOURNAL_TABLE} (id, name, sha256, breaks_older_workers) VALUES ($1, $2, $3, $4)`,
  params: [String(m.idx), m.tag, m.sha256, String(m.breaksOlderWorkers)],
});

export interface MigrateResult {
  applied: string[];
  level: number;
}

/** Applies every pending migration; a no-op when the database is up to date. */
export async function migrate(db: Executor, log: (line: string) => void = () => {}, dir = MIGRATIONS_DIR): Promise<MigrateResult> {
  const migrations = readMigrations(dir);
  const hadJournal = (await db.query(`SELECT CASE WHEN to_regclass('${JOURNAL_TABLE}') IS NULL THEN 'no' ELSE 'yes' END`))[0][0] === "yes";
  // Checked before the journal exists, so a refused adoption leaves the database as it was.
  const adopted = hadJournal ? [] : await adoptable(db, dir, migrations);
  await createJournal(db);
  for (const m of migrations.filter((m) => adopted.includes(m.tag))) {
    await db.transaction([journalRow(m), ...m.statements.map((sql) => ({ sql, params: [] }))]);
    log(`adopted ${m.tag} (its tables were already there)`);
  }

  const done = new Map((await db.query(`SELECT id, name, sha256 FROM ${JOURNAL_TABLE} ORDER BY id`)).map((r) => [Number(r[0]), { name: r[1], sha256: r[2] }]));
  for (const [id, row] of done) {
    const file = migrations.find((m) => m.idx === id);
    if (!file)
      throw new MigrationError(
        `the database has applied migration ${row.name}, which this checkout does not have: it is newer than this code. Pull, then migrate.`,
      );
    if (file.tag !== row.name)
      throw new MigrationError(`the database applied ${row.name} as number ${id}, but this checkout's number ${id} is ${file.tag}: the histories differ`);
  }
  const applied: string[] = [];
  for (const m of migrations) {
    if (done.has(m.idx)) continue;
    try {
      await db.transaction([journalRow(m), ...m.statements.map((sql) => ({ sql, params: [] }))]);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if ((error as { code?: string }).code === "23505" && /nomnom_migrations_pkey/.test(message + String((error as { constraint?: string }).constraint))) {
        throw new MigrationError(`migration ${m.tag} was applied by another migrator at the same time; nothing was applied twice. Run again to continue.`);
      }
      throw new MigrationError(`migration ${m.tag} failed and was rolled back (the database is as it was before it): ${message}`);
    }
    applied.push(m.tag);
    log(`applied ${m.tag}`);
  }
  return { applied, level: migrations.at(-1)?.idx ?? 0 };
}
