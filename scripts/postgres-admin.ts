/** Drops and recreates a PostgreSQL database, for the tests' and the benchmarks' fresh databases. */
import pg from "pg";

/** Recreates the database named in `url`, connecting through `adminUrl` (a database on the same server). */
export async function recreateDatabase(url: string, adminUrl: string): Promise<void> {
  const name = new URL(url).pathname.slice(1);
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  try {
    await admin.query(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    await admin.query(`CREATE DATABASE "${name}"`);
  } finally {
    await admin.end();
  }
}
