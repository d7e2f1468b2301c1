/** npm run sql: a statement against the dev database, printed as psql prints it; clear answers when it cannot run. */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync } from "node:fs";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { pgliteDatabase } from "../../scripts/local-neon/database.ts";

const root = resolve(import.meta.dirname, "../..");
const sql = (pgliteDir: string, ...args: string[]) =>
  spawnSync(process.execPath, ["scripts/sql.ts", ...args], { cwd: root, encoding: "utf8", env: { ...process.env, DATABASE_URL: "", PGLITE_DIR: pgliteDir } });

describe("npm run sql", () => {
  mkdirSync(join(root, "test/.output"), { recursive: true });

  it("prints the rows of a PGlite folder as a table, NULL empty, and a statement's tag", async () => {
    const dir = join(mkdtempSync(join(root, "test/.output/sql-")), "pglite");
    const db = await pgliteDatabase(dir);
    await db.query({ query: "CREATE TABLE t (k text, v numeric)", params: [] });
    await db.query({ query: "INSERT INTO t VALUES ('a', 1.50), ('bb', NULL)", params: [] });
    await db.close();
    expect(sql(dir, "select k, v from t order by k").stdout).toBe([" k  | v", "----+------", " a  | 1.50", " bb |", "(2 rows)", ""].join("\n"));
    expect(sql(dir, "delete from t where k = 'a'").stdout).toBe("DELETE 1\n");
  });

  it("says how to get a database when there is none, and how to use it without a statement", () => {
    const missing = join(mkdtempSync(join(root, "test/.output/sql-")), "pglite");
    const none = sql(missing, "select 1");
    expect(none.status).toBe(1);
    expect(none.stderr).toBe(
      `npm run sql: no local database yet: ${missing} does not exist. Start \`npm run dev\` once (it creates it), or set DATABASE_URL.\n`,
    );
    const usage = sql(missing);
    expect(usage.status).toBe(64);
    expect(usage.stderr).toContain('Usage: npm run sql -- "select * from nomnom_migrations"');
  });
});
