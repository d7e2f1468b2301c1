/**
 * npm run migrate: applies the pending migrations/ to DATABASE_URL over Neon's HTTP API, each in one
 * transaction, recorded in the journal table. For a local endpoint, also set NEON_FETCH_ENDPOINT
 * (e.g. http://127.0.0.1:4444/sql). A database that is not behind a local endpoint is recorded in
 * migrations/meta/databases.json (scripts/applied-databases.ts).
 */
import { neon, neonConfig } from "@neondatabase/serverless";
import { isLocalEndpoint, recordAppliedDatabase } from "./applied-databases.ts";
import { type Executor, MIGRATIONS_DIR, MigrationError, migrate, readMigrations } from "./migrations.ts";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("Set DATABASE_URL to the Neon connection string (postgres://user:password@host/db).");
  process.exit(2);
}
if (process.env.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = process.env.NEON_FETCH_ENDPOINT;

const sql = neon(url, { arrayMode: true, fullResults: true });
const neonExecutor: Executor = {
  async query(text, params = []) {
    return (await sql.query(text, params)).rows as (string | null)[][];
  },
  async transaction(statements) {
    await sql.transaction(statements.map((s) => sql.query(s.sql, s.params)));
  },
};

try {
  const { applied, level } = await migrate(neonExecutor, (line) => console.log(line));
  // A database outside this machine now holds these migrations: they must never be discarded or reset away.
  if (level > 0 && !isLocalEndpoint(process.env.NEON_FETCH_ENDPOINT)) {
    recordAppliedDatabase(MIGRATIONS_DIR, url, level, readMigrations().at(-1)!.tag);
    console.log(`Recorded in migrations/meta/databases.json (commit it).`);
  }
  console.log(
    applied.length === 0
      ? `Up to date: the database is at migration ${level}.`
      : `Applied ${applied.length} migration(s); the database is at migration ${level}.`,
  );
} catch (error) {
  if (!(error instanceof MigrationError)) throw error;
  console.error(`npm run migrate: ${error.message}`);
  process.exit(1);
}
