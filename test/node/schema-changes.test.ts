/**
 * Every schema change a team makes has a path: changed CHECK constraints are generated (a tightening
 * counts the violating rows and fails cleanly), destructive changes only with --allow-destructive
 * (a dropped field's pipe position stays reserved), and a renamed field's old name stays an alias.
 * Each project is built by the real build script and migrated into PGlite.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { appliedDatabases, isLocalEndpoint, recordAppliedDatabase } from "../../scripts/applied-databases.ts";
import { type Database, pgliteDatabase } from "../../scripts/local-neon/database.ts";
import { executorOf } from "../../scripts/local-neon/start.ts";
import { migrate } from "../../scripts/migrations.ts";
import type { EntityDef } from "../../src/entity/entity.ts";

const root = resolve(import.meta.dirname, "../..");

/** A project of its own under test/.output (beside a link to src/ingest, so its generated code can be imported). */
function project(yaml: string) {
  mkdirSync(join(root, "test/.output"), { recursive: true });
  const dir = mkdtempSync(join(root, "test/.output/changes-"));
  mkdirSync(join(dir, "entities"));
  const write = (text: string) => writeFileSync(join(dir, "entities/gauge.yaml"), text);
  write(yaml);
  const build = (...args: string[]) =>
    execFileSync(process.execPath, ["scripts/build-entities.ts", "--entities", join(dir, "entities"), "--out", dir, ...args], {
      cwd: root,
      encoding: "utf8",
      stdio: "pipe",
    });
  const failedBuild = (...args: string[]) => {
    try {
      build(...args);
    } catch (error) {
      return String((error as { stderr: string }).stderr);
    }
    throw new Error("the build succeeded");
  };
  const migrations = () => readdirSync(join(dir, "migrations")).filter((f) => f.endsWith(".sql"));
  const latest = () => readFileSync(join(dir, "migrations", migrations().sort().at(-1)!), "utf8");
  let imported = 0;
  /** The generated registry as it is now (a fresh copy each time: modules are cached by path). */
  const registry = async (): Promise<EntityDef[]> => {
    const copy = join(dir, `gen${++imported}`);
    mkdirSync(join(copy, "generated"), { recursive: true });
    for (const f of ["registry.ts", "tables.ts"]) writeFileSync(join(copy, "generated", f), readFileSync(join(dir, "src/generated", f)));
    symlinkSync(join(root, "src/ingest"), join(copy, "ingest"));
    return ((await import(join(copy, "generated/registry.ts"))) as { ENTITIES: EntityDef[] }).ENTITIES;
  };
  return { dir, write, build, failedBuild, migrations, latest, registry, edit: (from: string, to: string) => write(read().replace(from, to)) };
  function read() {
    return readFileSync(join(dir, "entities/gauge.yaml"), "utf8");
  }
}

let db: Database | undefined;
afterEach(async () => {
  await db?.close();
  db = undefined;
});
const migrateInto = async (dir: string) => {
  db ??= await pgliteDatabase();
  return migrate(executorOf(db), () => {}, join(dir, "migrations"));
};
const query = async (sql: string) => (await db!.query({ query: sql, params: [] })).rows;

const GAUGE = `entity:
  name: Gauge
  fields:
    - { name: code, type: String, constraints: { maxLength: 8 } }
    - { name: status, type: String, constraints: { enum: [on, off] } }
    - { name: level, type: Integer, nullable: true, constraints: { minimum: 0, maximum: 10 } }
    - { name: note, type: String, nullable: true }
  persistence:
    database: { unicity_fields: [code] }
`;

describe("constraint changes are generated", () => {
  it("adds and removes enum values, and a tightening fails the migration cleanly naming the rows' count until they are fixed", async () => {
    const p = project(GAUGE);
    p.build();
    await migrateInto(p.dir);
    await query("INSERT INTO gauges (code, status, level) VALUES ('a', 'on', 1), ('b', 'off', 9), ('c', 'off', 10)");

    p.edit("enum: [on, off]", "enum: [on, off, standby]");
    expect(p.build()).toContain("gauges status checks");
    expect(p.latest()).toContain(`ALTER TABLE "gauges" ADD CHECK ("status" IN ('on', 'off', 'standby'));`);
    await migrateInto(p.dir);
    await query("INSERT INTO gauges (code, status) VALUES ('d', 'standby')");
    await expect(query("INSERT INTO gauges (code, status) VALUES ('e', 'broken')")).rejects.toThrow(/check constraint/);

    // Removing "off" while two rows hold it: the migration fails whole, saying how many rows.
    p.edit("enum: [on, off, standby]", "enum: [on, standby]");
    p.build();
    await expect(migrateInto(p.dir)).rejects.toThrow(
      /failed and was rolled back .*: 2 row\(s\) of table gauges break the new rule for column status \("status" IN \('on', 'standby'\)\)/,
    );
    await query("INSERT INTO gauges (code, status) VALUES ('f', 'off')"); // the old rule still holds
    await query("UPDATE gauges SET status = 'standby' WHERE status = 'off'");
    expect((await migrateInto(p.dir)).applied).toHaveLength(1);
    await expect(query("INSERT INTO gauges (code, status) VALUES ('g', 'off')")).rejects.toThrow(/check constraint/);
  });

  it("changes minimum, maximum and lengths, counting the rows a tightening would break", async () => {
    const p = project(GAUGE);
    p.build();
    await migrateInto(p.dir);
    await query("INSERT INTO gauges (code, status, level) VALUES ('abcdefg', 'on', 9), ('b', 'on', 2)");
    p.edit("minimum: 0, maximum: 10", "minimum: 0, maximum: 100");
    p.build();
    expect(p.latest()).toContain(`ALTER TABLE "gauges" ADD CHECK ("level" <= 100);`);
    await migrateInto(p.dir);
    await query("INSERT INTO gauges (code, status, level) VALUES ('c', 'on', 99)");

    p.edit("maximum: 100", "maximum: 5");
    p.edit("maxLength: 8", "maxLength: 4");
    p.build();
    await expect(migrateInto(p.dir)).rejects.toThrow(/1 row\(s\) of table gauges break the new rule for column code \(at most 4 characters\)/);
    await query("DELETE FROM gauges WHERE code = 'abcdefg'");
    await expect(migrateInto(p.dir)).rejects.toThrow(/1 row\(s\) of table gauges break the new rule for column level \("level" <= 5\)/);
    await query("UPDATE gauges SET level = 5 WHERE level > 5");
    await migrateInto(p.dir);
    await expect(query("INSERT INTO gauges (code, status) VALUES ('abcde', 'on')")).rejects.toThrow(/too long/);
  });
});

describe("destructive changes need --allow-destructive", () => {
  it("refuses to drop the last field with a message about its own position only", () => {
    const p = project(GAUGE);
    p.build();
    p.edit("    - { name: note, type: String, nullable: true }\n", "");
    const stderr = p.failedBuild();
    expect(stderr).toContain(
      "entity Gauge, field note: the field was removed (column note). Removing it drops the column and its data. Keep it (make it nullable: true if senders stop filling it); if it was renamed, declare renamed_from: note on the new name; or drop it with `npm run build -- --allow-destructive` (its pipe position 4 stays reserved: a value sent there is ignored).",
    );
    expect(stderr).not.toContain("later field");
    expect(p.migrations()).toHaveLength(1);
  });

  it("drops a field with the flag: the DROP is listed, the migration breaks older Workers, and the pipe position stays reserved", async () => {
    const p = project(GAUGE);
    p.build();
    await migrateInto(p.dir);
    p.edit("    - { name: level, type: Integer, nullable: true, constraints: { minimum: 0, maximum: 10 } }\n", "");
    const out = p.build("--allow-destructive");
    expect(out).toContain("New migration migrations/0002_gauges_drop_level.sql:");
    expect(out).toContain(`It is DESTRUCTIVE (--allow-destructive)`);
    expect(out).toContain(`  ALTER TABLE "gauges" DROP COLUMN "level";`);
    expect(p.latest()).toContain("-- nomnom: breaks-older-workers");
    const snapshot = JSON.parse(readFileSync(join(p.dir, "migrations/meta/0002_snapshot.json"), "utf8"));
    expect(snapshot.entities[0].fields.map((f: { key: string; dropped?: true }) => [f.key, f.dropped ?? false])).toEqual([
      ["code", false],
      ["status", false],
      ["level", true],
      ["note", false],
    ]);
    expect(p.build("--check")).toMatch(/^Up to date/);
    p.build();
    expect(p.migrations()).toHaveLength(2);
    await migrateInto(p.dir);

    // Older senders still send 4 fields: the third is ignored, the note stays at position 4.
    let [gauge] = await p.registry();
    expect(gauge.wire).toEqual(["code", "status", "(dropped level)", "note"]);
    expect(gauge.parseLine(["G", "x", "on", "7", "hello"])).toEqual(["x", "on", "hello"]);
    expect(gauge.parseLine(["G", "x", "on"])).toEqual(["x", "on", null]);
    expect(gauge.parseLine(["G", "x", "on", "", "n", "extra"])).toMatchObject({ message: expect.stringContaining("this entity has 4 fields") });

    // A field added later comes after the reserved position.
    p.edit(
      "    - { name: note, type: String, nullable: true }\n",
      "    - { name: note, type: String, nullable: true }\n    - { name: site, type: String, nullable: true }\n",
    );
    p.build();
    [gauge] = await p.registry();
    expect(gauge.wire).toEqual(["code", "status", "(dropped level)", "note", "site"]);
    expect(gauge.parseLine(["G", "x", "on", "", "n", "oslo"])).toEqual(["x", "on", "n", "oslo"]);
    await migrateInto(p.dir);
    expect(await query("SELECT column_name FROM information_schema.columns WHERE table_name = 'gauges' ORDER BY ordinal_position")).toEqual([
      ["id"],
      ["code"],
      ["status"],
      ["note"],
      ["site"],
    ]);
  });

  it("drops an entity and converts a type lossily only with the flag", async () => {
    const probe =
      "---\nentity:\n  name: Probe\n  fields:\n    - { name: probe_id, type: String }\n    - { name: reading, type: Decimal }\n  persistence:\n    database: { unicity_fields: [probe_id] }\n";
    const p = project(GAUGE + probe);
    p.build();
    await migrateInto(p.dir);
    await query("INSERT INTO gauges (code, status) VALUES ('a', 'on')");
    const retyped = GAUGE.replace("{ name: note, type: String, nullable: true }", "{ name: note, type: Integer, nullable: true }");
    p.write(GAUGE);
    expect(p.failedBuild()).toContain("entity Probe (table probes) was removed: that drops its table and every row in it");
    p.write(retyped + probe);
    expect(p.failedBuild()).toMatch(/field note: the type changed in a way that can lose data \(text → integer\)/);
    p.write(retyped);
    const out = p.build("--allow-destructive");
    expect(out).toContain(`  DROP TABLE "probes";`);
    expect(out).toContain(`  ALTER TABLE "gauges" ALTER COLUMN "note" TYPE integer USING "note"::integer;`);
    await migrateInto(p.dir);
    expect(await query("SELECT to_regclass('probes') IS NULL")).toEqual([["t"]]);
  });
});

describe("a renamed field", () => {
  it("accepts JSON records that use the old name, and refuses a record with both", async () => {
    const p = project(GAUGE);
    p.build();
    p.edit("{ name: note, type: String, nullable: true }", "{ name: remark, renamed_from: note, type: String, nullable: true }");
    p.build();
    expect(p.latest()).toContain(`ALTER TABLE "gauges" RENAME COLUMN "note" TO "remark";`);
    const [gauge] = await p.registry();
    expect(gauge.parseRecord({ code: "a", status: "on", note: "old name" })).toEqual(["a", "on", null, "old name"]);
    expect(gauge.parseRecord({ code: "a", status: "on", remark: "new name" })).toEqual(["a", "on", null, "new name"]);
    expect(gauge.parseRecord({ code: "a", status: "on", remark: "x", note: "y" })).toMatchObject({
      message: expect.stringContaining("is the former name of remark"),
    });
  });
});

describe("npm run build -- --discard-unapplied", () => {
  const discard = (p: ReturnType<typeof project>, env: Record<string, string>) =>
    execFileSync(process.execPath, ["scripts/build-entities.ts", "--out", p.dir, "--discard-unapplied"], {
      cwd: root,
      encoding: "utf8",
      stdio: "pipe",
      env: { ...process.env, DATABASE_URL: "", ...env },
    });
  const refusal = (p: ReturnType<typeof project>, env: Record<string, string>) => {
    try {
      discard(p, env);
    } catch (error) {
      return String((error as { stderr: string }).stderr);
    }
    throw new Error("discarded");
  };
  const noDevDatabase = () => ({ PGLITE_DIR: join(mkdtempSync(join(root, "test/.output/no-db-")), "pglite") });

  it("removes the newest migration, its snapshot and journal entry when no database applied it", () => {
    const p = project(GAUGE);
    p.build();
    p.edit("enum: [on, off]", "enum: [on, off, standby]");
    p.build();
    expect(p.migrations().sort()).toEqual(["0001_create_gauges.sql", "0002_gauges_status_checks.sql"]);
    expect(discard(p, noDevDatabase())).toContain(
      "Discarded migrations/0002_gauges_status_checks.sql and migrations/meta/0002_snapshot.json (no database applied it: none recorded in migrations/meta/databases.json, not committed to git, not in the dev database).",
    );
    expect(p.migrations()).toEqual(["0001_create_gauges.sql"]);
    expect(readdirSync(join(p.dir, "migrations/meta")).sort()).toEqual(["0001_snapshot.json", "_journal.json"]);
    expect(JSON.parse(readFileSync(join(p.dir, "migrations/meta/_journal.json"), "utf8")).entries).toHaveLength(1);
    // The fixed entities get the number again.
    p.edit("enum: [on, off, standby]", "enum: [on, off, idle]");
    expect(p.build()).toContain("New migration migrations/0002_gauges_status_checks.sql");
    expect(p.latest()).toContain("'idle'");
  });

  it("refuses when the dev database applied it, saying how to start that database again", async () => {
    const p = project(GAUGE);
    p.build();
    p.edit("enum: [on, off]", "enum: [on, off, standby]");
    p.build();
    const pgliteDir = join(mkdtempSync(join(root, "test/.output/pglite-")), "pglite");
    const local = await pgliteDatabase(pgliteDir);
    await migrate(executorOf(local), () => {}, join(p.dir, "migrations"));
    await local.close();
    expect(refusal(p, { PGLITE_DIR: pgliteDir })).toContain(
      `migrations/0002_gauges_status_checks.sql cannot be discarded: the dev database (PGlite in ${pgliteDir}) applied it. If its rows do not matter, delete the local database (rm -rf ${pgliteDir}; npm run dev makes a new one) and run this again`,
    );
    expect(p.migrations()).toHaveLength(2);
  });

  it("refuses when migrations/meta/databases.json records a database that applied it", () => {
    const p = project(GAUGE);
    p.build();
    recordAppliedDatabase(join(p.dir, "migrations"), "postgres://app:secret@ep-cool-1.eu.aws.neon.tech/neondb", 1, "0001_create_gauges");
    expect(readFileSync(join(p.dir, "migrations/meta/databases.json"), "utf8")).not.toContain("secret");
    expect(refusal(p, noDevDatabase())).toContain(
      "migrations/0001_create_gauges.sql cannot be discarded: migrations/meta/databases.json records that ep-cool-1.eu.aws.neon.tech/neondb applied it",
    );
  });

  it("refuses a migration git has committed", () => {
    const p = project(GAUGE);
    p.build();
    const git = (...args: string[]) => execFileSync("git", args, { cwd: p.dir, stdio: "pipe" });
    git("init", "-q");
    git("add", "migrations");
    git("-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "first");
    expect(refusal(p, noDevDatabase())).toContain("migrations/0001_create_gauges.sql cannot be discarded: git has committed it");
  });
});

describe("the record of databases outside this machine", () => {
  it("takes local endpoints for local databases, and raises a database's level only", () => {
    expect(isLocalEndpoint("http://127.0.0.1:4444/sql")).toBe(true);
    expect(isLocalEndpoint("http://localhost:4444/sql")).toBe(true);
    expect(isLocalEndpoint(undefined)).toBe(false);
    expect(isLocalEndpoint("https://api.eu.aws.neon.tech/sql")).toBe(false);
    const dir = mkdtempSync(join(root, "test/.output/record-"));
    recordAppliedDatabase(dir, "postgres://u:p@host-a/db", 3, "0003_x");
    recordAppliedDatabase(dir, "postgres://u:p@host-a/db", 2, "0002_x");
    recordAppliedDatabase(dir, "postgres://u:p@host-b/db", 1, "0001_x");
    expect(appliedDatabases(dir)).toEqual([
      { database: "host-a/db", level: 3, migration: "0003_x" },
      { database: "host-b/db", level: 1, migration: "0001_x" },
    ]);
  });
});
