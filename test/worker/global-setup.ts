/**
 * Starts the local Neon endpoint the Worker under test talks to, over a fresh database. It demands
 * LOCAL_CONNECTION_STRING's password, so a test can send another and meet Neon's refusal.
 * A project whose env sets TEST_PGBOUNCER reaches that database through PgBouncer in transaction
 * mode (scripts/local-neon/pgbouncer.ts), as a Worker reaches Neon's -pooler host.
 */
import type { TestProject } from "vitest/node";
import { startPgBouncer } from "../../scripts/local-neon/pgbouncer.ts";
import { LOCAL_CONNECTION_STRING, startLocalNeon } from "../../scripts/local-neon/start.ts";
import { freshDatabase } from "../support/database.ts";
import { TEST_MIGRATIONS } from "../support/test-project.ts";

export default async function setup(project: TestProject) {
  const endpoint = project.config.env?.NEON_FETCH_ENDPOINT;
  if (!endpoint) throw new Error("vitest.config.ts sets NEON_FETCH_ENDPOINT for the worker project");
  const port = Number(new URL(endpoint).port);
  // The worker-copy project: the same tests with the COPY writer, over its own database and WebSocket endpoint.
  const wsProxy = project.config.env?.NEON_WS_PROXY;
  const wsPort = wsProxy ? Number(/:(\d+)\//.exec(wsProxy)![1]) : undefined;
  const pooled = project.config.env?.TEST_PGBOUNCER === "1";
  // Each project its own database: they may run at the same time.
  const database = await freshDatabase(`nomnom_test_${project.name.replaceAll("-", "_")}`);
  if (pooled && !database) throw new Error(`the ${project.name} project needs PostgreSQL and pgbouncer (TEST_DATABASE_URL; npm run test:system)`);
  const bouncer = pooled ? await startPgBouncer(process.env.TEST_DATABASE_URL!) : undefined;
  const local = await startLocalNeon({
    databaseUrl: bouncer && database ? bouncer.url(database) : database,
    port,
    wsPort,
    // worker-copy over PGlite: the WebSocket endpoint answers COPY FROM STDIN itself (scripts/local-neon/pglite-wire.ts).
    pgliteWebSocket: Boolean(wsProxy),
    faults: true,
    password: new URL(LOCAL_CONNECTION_STRING).password,
    // The tests' own entity set (test/project), whatever the user's entities/ hold.
    migrationsDir: TEST_MIGRATIONS,
  });
  console.log(`[worker tests] local Neon endpoint ${local.url} over ${local.db.kind}${bouncer ? ` through PgBouncer on port ${bouncer.port}` : ""}`);
  return async () => {
    await local.close();
    await bouncer?.stop();
  };
}
