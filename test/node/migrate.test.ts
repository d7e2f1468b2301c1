import { execFile, execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { executorOf, LOCAL_CONNECTION_STRING, type LocalNeon, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { MigrationError, migrate } from "../../scripts/migrations.ts";
import { freshDatabase } from "../support/database.ts";
import { TEST_MIGRATIONS as MIGRATIONS_DIR } from "../support/test-project.ts";

const root = resolve(import.meta.dirname, "../..");
/** The test project's migrations, in order, as the journal lists them. */
const TAGS: string[] = JSON.parse(readFileSync(join(MIGRATIONS_DIR, "meta/_journal.json"), "utf8")).entries.map((e: { tag: string }) => e.tag);
const LEVEL = TAGS.length;

// PGlite always; the machine's PostgreSQL too where TEST_DATABASE_URL names one (the system tests, CI).
const kinds = ["pglite", ...(process.env.TEST_DATABASE_URL ? ["postgres"] : [])];

describe.each(kinds)("npm run migrate over %s", (kind) => {
  let local: LocalNeon | undefined;
  const start = async (options: { pgliteDir?: string; migrate?: boolean } = {}) => {
    const databaseUrl = kind === "postgres" ? await freshDatabase("nomnom_test_migrate") : undefined;
    local = await startLocalNeon({ databaseUrl, pgliteDir: options.pgliteDir, migrate: options.migrate ?? false, migrationsDir: MIGRATIONS_DIR });
    return local;
  };
  afterEach(async () => {
    await local?.close();
    local = undefined;
  });
  const query = async (sql: string) => (await local!.db.query({ query: sql, params: [] })).rows;
  const executor = () => executorOf(local!.db);
  // Asynchronous: the endpoint answering the child runs in this very process.
  const run = async () =>
    (
      await promisify(execFile)(process.execPath, ["scripts/migrate.ts"], {
        cwd: root,
        env: { ...process.env, DATABASE_URL: LOCAL_CONNECTION_STRING, NEON_FETCH_ENDPOINT: local!.url, NOMNOM_MIGRATIONS_DIR: MIGRATIONS_DIR },
      })
    ).stdout;

  it("applies each migration once over Neon's HTTP API, records it in the journal, and is a no-op the second time", async () => {
    await start();
    expect(await run()).toBe(`${TAGS.map((t) => `applied ${t}\n`).join("")}Applied ${LEVEL} migration(s); the database is at migration ${LEVEL}.\n`);
    expect(await run()).toBe(`Up to date: the database is at migration ${LEVEL}.\n`);
    expect(await query("SELECT id, name, breaks_older_workers FROM nomnom_migrations ORDER BY id")).toEqual(TAGS.map((t, i) => [String(i + 1), t, "f"]));
    const indexes = await query("SELECT indexname FROM pg_indexes WHERE indexname LIKE '%natural_key' ORDER BY 1");
    expect(indexes.flat()).toEqual(["customers_natural_key", "order_line_items_natural_key", "orders_natural_key", "products_natural_key"]);
  });

  it("lets only one of two migrators running at once apply a migration", async () => {
    await start();
    const outcomes = await Promise.allSettled([migrate(executor(), undefined, MIGRATIONS_DIR), migrate(executor(), undefined, MIGRATIONS_DIR)]);
    // A loser fails cleanly, naming the migration the other one applied; nothing is applied twice.
    for (const o of outcomes) {
      if (o.status === "fulfilled") continue;
      expect(o.reason).toBeInstanceOf(MigrationError);
      expect(o.reason.message).toMatch(/^migration \d{4}_\w+ was applied by another migrator at the same time/);
    }
    const applied = outcomes.flatMap((o) => (o.status === "fulfilled" ? o.value.applied : []));
    expect(new Set(applied).size).toBe(applied.length);
    expect(await query("SELECT count(*) FROM nomnom_migrations")).toEqual([[String(LEVEL)]]);
    expect((await migrate(executor(), undefined, MIGRATIONS_DIR)).applied).toEqual([]);
  });

  it("rolls a failing migration back whole and names it", async () => {
    await start();
    const dir = mkdtempSync(join(tmpdir(), "migrations-"));
    cpSync(MIGRATIONS_DIR, dir, { recursive: true });
    const bad = "CREATE TABLE half_done (id int);\n--> statement-breakpoint\nALTER TABLE no_such_table ADD COLUMN x int;\n";
    const tag = `${String(LEVEL + 1).padStart(4, "0")}_bad`;
    writeFileSync(join(dir, `${tag}.sql`), bad);
    const journal = JSON.parse(readFileSync(join(dir, "meta/_journal.json"), "utf8"));
    const { sha256 } = await import("../../scripts/compiler/migration-files.ts");
    journal.entries.push({ idx: LEVEL + 1, tag, sha256: sha256(bad), breaksOlderWorkers: false });
    writeFileSync(join(dir, "meta/_journal.json"), JSON.stringify(journal));
    await expect(migrate(executor(), () => {}, dir)).rejects.toThrow(
      new RegExp(`^migration ${tag} failed and was rolled back \\(the database is as it was before it\\): .*no_such_table`),
    );
    expect(await query("SELECT max(id) FROM nomnom_migrations")).toEqual([[String(LEVEL)]]);
    expect(await query("SELECT to_regclass('half_done') IS NULL")).toEqual([["t"]]);
  });

  it("adopts a database made by 0001/0002 before the journal existed, keeping its rows", async () => {
    const pgliteDir = kind === "pglite" ? mkdtempSync(join(tmpdir(), "pglite-legacy-")) : undefined;
    await start({ pgliteDir });
    // What `npm run migrate` used to do: every statement of every file, no journal.
    for (const file of ["0001_entities.sql", "0002_idempotency.sql"]) {
      for (const statement of readFileSync(join(MIGRATIONS_DIR, file), "utf8").split("--> statement-breakpoint"))
        await query(statement.replace(/^--.*$/gm, ""));
    }
    await query("INSERT INTO customers (customer_key, name, account_balance) VALUES ('C1', 'Ann', 1.5)");
    const log: string[] = [];
    // The two it was made by are adopted; the later ones are applied as usual.
    expect((await migrate(executor(), (line) => log.push(line), MIGRATIONS_DIR)).applied).toEqual(TAGS.slice(2));
    expect(log).toEqual([
      "adopted 0001_entities (its tables were already there)",
      "adopted 0002_idempotency (its tables were already there)",
      ...TAGS.slice(2).map((t) => `applied ${t}`),
    ]);
    expect(await query("SELECT id FROM nomnom_migrations ORDER BY id")).toEqual(TAGS.map((_, i) => [String(i + 1)]));
    expect(await query("SELECT customer_key FROM customers")).toEqual([["C1"]]);
  });

  it("refuses to adopt a legacy database whose tables differ from 0001, recording nothing", async () => {
    await start();
    await query("CREATE TABLE orders (id bigint PRIMARY KEY, order_key text)");
    await expect(migrate(executor(), undefined, MIGRATIONS_DIR)).rejects.toThrow(
      "cannot adopt this database: it has tables of 0001_entities but not customers",
    );
    await query("DROP TABLE orders");
    await query("CREATE TABLE orders (id bigint PRIMARY KEY, order_key integer)");
    for (const table of ["customers", "order_line_items", "products"]) await query(`CREATE TABLE ${table} (id bigint)`);
    await expect(migrate(executor(), undefined, MIGRATIONS_DIR)).rejects.toThrow(
      "cannot adopt this database: table customers lacks column customer_key, which 0001_entities creates",
    );
    expect(await query("SELECT to_regclass('nomnom_migrations') IS NULL")).toEqual([["t"]]);
  });
});

describe("npm run migrate's usage", () => {
  it("refuses to run without DATABASE_URL, exit code 2", () => {
    const env = { ...process.env };
    delete env.DATABASE_URL;
    expect(() => execFileSync(process.execPath, ["scripts/migrate.ts"], { cwd: root, env, stdio: "pipe" })).toThrow(/Set DATABASE_URL/);
  });
});

describe("the embedded database of npm run dev", () => {
  it("keeps its data in its folder across restarts, migrating once", async () => {
    const dir = mkdtempSync(join(tmpdir(), "pglite-"));
    const firstLog: string[] = [];
    const first = await startLocalNeon({ pgliteDir: dir, log: (line) => firstLog.push(line), migrationsDir: MIGRATIONS_DIR });
    await first.db.query({ query: "INSERT INTO customers (customer_key, name, account_balance) VALUES ('C1', 'Ann', 1.5)", params: [] });
    await first.close();
    expect(firstLog).toEqual(TAGS.map((t) => `applied ${t}`));
    const secondLog: string[] = [];
    const second = await startLocalNeon({ pgliteDir: dir, log: (line) => secondLog.push(line), migrationsDir: MIGRATIONS_DIR });
    try {
      const { rows } = await second.db.query({ query: "SELECT customer_key, account_balance FROM customers", params: [] });
      expect(rows).toEqual([["C1", "1.5"]]);
      expect(secondLog).toEqual([]);
    } finally {
      await second.close();
    }
  });
});
