/**
 * npm run build -- --discard-unapplied: removes the newest migration (its SQL, its snapshot, its
 * journal entry) when no database has applied it, so that a mistake can be fixed before it ships.
 * How it knows no database applied it:
 *   - migrations/meta/databases.json (written by `npm run migrate` for every database outside this
 *     machine) records no database at or past it;
 *   - the dev database (PGlite in .data/pglite, or DATABASE_URL: what `npm run dev` migrates) has
 *     not applied it (its journal table, nomnom_migrations);
 *   - git has never committed it (so no other clone, CI job or deploy has seen it).
 */
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { appliedDatabases } from "./applied-databases.ts";
import { type Journal, readJournal } from "./compiler/migration-files.ts";
import { EntityError } from "./compiler/model.ts";
import { type DevDatabaseSettings, NoDevDatabase, openDevDatabase } from "./dev-database.ts";

const pad = (n: number) => String(n).padStart(4, "0");

/** Whether git has ever committed the file (false outside a git work tree: then nothing was shared through git). */
function committed(root: string, path: string): boolean {
  try {
    return execFileSync("git", ["log", "--oneline", "-1", "--", path], { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] }).trim() !== "";
  } catch {
    return false;
  }
}

export async function discardUnapplied(root: string, devDatabase: DevDatabaseSettings): Promise<string> {
  const dir = join(root, "migrations");
  const entries = readJournal(dir);
  const last = entries.at(-1);
  if (!last) throw new EntityError("migrations/meta/_journal.json lists no migration: there is nothing to discard");
  const sql = `migrations/${last.tag}.sql`;
  const snapshot = `migrations/meta/${pad(last.idx)}_snapshot.json`;

  const reached = appliedDatabases(dir).filter((d) => d.level >= last.idx);
  if (reached.length > 0) {
    throw new EntityError(
      `${sql} cannot be discarded: migrations/meta/databases.json records that ${reached.map((d) => d.database).join(", ")} applied it (npm run migrate). Put the fix in a new migration instead.`,
    );
  }
  if (committed(root, sql)) {
    throw new EntityError(
      `${sql} cannot be discarded: git has committed it, so another clone, CI or a deploy may have applied it. Put the fix in a new migration; or, if you are sure no database has it, remove it from git first (git rm --cached ${sql} ${snapshot}, and commit) and run this again.`,
    );
  }
  let db: Awaited<ReturnType<typeof openDevDatabase>> | undefined;
  try {
    db = await openDevDatabase(devDatabase);
  } catch (error) {
    if (!(error instanceof NoDevDatabase)) throw error;
  }
  if (db) {
    try {
      const journal = await db.query(`SELECT to_regclass('nomnom_migrations') IS NOT NULL`);
      const applied = journal.rows[0][0] === "t" && (await db.query(`SELECT 1 FROM nomnom_migrations WHERE id = ${last.idx}`)).rows.length > 0;
      if (applied) {
        const fix = devDatabase.databaseUrl
          ? "Put the fix in a new migration instead"
          : `If its rows do not matter, delete the local database (rm -rf ${devDatabase.pgliteDir}; npm run dev makes a new one) and run this again; otherwise put the fix in a new migration`;
        throw new EntityError(`${sql} cannot be discarded: the dev database (${db.description}) applied it. ${fix}.`);
      }
    } finally {
      await db.close();
    }
  }

  rmSync(join(root, sql));
  const generated = existsSync(join(root, snapshot));
  if (generated) rmSync(join(root, snapshot));
  const journalPath = join(dir, "meta", "_journal.json");
  const journal = JSON.parse(readFileSync(journalPath, "utf8")) as Journal;
  journal.entries = journal.entries.filter((e) => e.idx !== last.idx);
  writeFileSync(journalPath, `${JSON.stringify(journal, null, 2)}\n`);
  return `Discarded ${sql}${generated ? ` and ${snapshot}` : ""} (no database applied it: none recorded in migrations/meta/databases.json, not committed to git, not in the dev database). Fix the entities, then run \`npm run build\` again.`;
}
