/**
 * npm run migrate: applies migrations/*.sql to DATABASE_URL over Neon's HTTP API, all statements
 * in one transaction. For a local endpoint, also set NEON_FETCH_ENDPOINT (e.g. http://127.0.0.1:4444/sql).
 */
import { neon, neonConfig } from "@neondatabase/serverless";
import { migrationStatements } from "./migrations.ts";

const url = process.env.DATABASE_URL;
if (!url) {
  console.error("Set DATABASE_URL to the Neon connection string (postgres://user:password@host/db).");
  process.exit(1);
}
if (process.env.NEON_FETCH_ENDPOINT) neonConfig.fetchEndpoint = process.env.NEON_FETCH_ENDPOINT;

const sql = neon(url);
const statements = migrationStatements();
await sql.transaction(statements.map((s) => sql.query(s)));
console.log(`Applied ${statements.length} statements from migrations/ in one transaction.`);
