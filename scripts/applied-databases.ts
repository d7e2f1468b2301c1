/**
 * migrations/meta/databases.json: the databases outside this machine that `npm run migrate` brought
 * to a migration level (host and database name, never credentials). Commit it: it is how any clone
 * knows that a migration reached a real database, so that `npm run build -- --discard-unapplied`
 * does not discard it and `npm run reset-project` does not wipe the project's history.
 * Databases this machine created itself (PGlite in .data/, a local Neon endpoint) are not recorded.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface AppliedDatabase {
  /** host/database, as in the connection string. */
  database: string;
  /** The last migration it applied. */
  level: number;
  migration: string;
}

const file = (migrationsDir: string) => join(migrationsDir, "meta", "databases.json");

export function appliedDatabases(migrationsDir: string): AppliedDatabase[] {
  const path = file(migrationsDir);
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as { databases: AppliedDatabase[] }).databases : [];
}

/** host/database of a connection string: what identifies it without its password. */
export function databaseName(url: string): string {
  const parsed = new URL(url);
  return `${parsed.hostname}${parsed.pathname}`;
}

/** A local endpoint (NEON_FETCH_ENDPOINT on this machine, as `npm run dev` and the tests use) serves a database made here. */
export function isLocalEndpoint(fetchEndpoint: string | undefined): boolean {
  if (!fetchEndpoint) return false;
  const host = new URL(fetchEndpoint).hostname;
  return host === "localhost" || host === "::1" || host === "[::1]" || host.startsWith("127.");
}

/** Records (or raises) a database's level; the file changes only when a level does. */
export function recordAppliedDatabase(migrationsDir: string, url: string, level: number, migration: string): void {
  const databases = appliedDatabases(migrationsDir);
  const name = databaseName(url);
  const known = databases.find((d) => d.database === name);
  if (known && known.level >= level) return;
  const next = [...databases.filter((d) => d.database !== name), { database: name, level, migration }].sort((a, b) => a.database.localeCompare(b.database));
  mkdirSync(join(migrationsDir, "meta"), { recursive: true });
  writeFileSync(
    file(migrationsDir),
    `${JSON.stringify({ written_by: "npm run migrate: the databases outside this machine each migration reached. Commit it.", databases: next }, null, 2)}\n`,
  );
}
