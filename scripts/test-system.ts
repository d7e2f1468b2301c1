/**
 * npm run test:system: the whole test suite against a real PostgreSQL, plus the checks that need
 * system tools (test/system/: promtool, headless Chromium, PgBouncer). Checks the tools first and names the
 * Debian package of any that is missing. Arguments are passed to vitest (e.g. --project system).
 */
import { spawnSync } from "node:child_process";
import { accessSync, constants } from "node:fs";
import pg from "pg";
import { CHROMIUM_PATH } from "../test/support/chromium.ts";
import { PGBOUNCER } from "./local-neon/pgbouncer.ts";

const DEFAULT_DATABASE_URL = "postgres://postgres@127.0.0.1:5432/test";
const databaseUrl = process.env.TEST_DATABASE_URL || DEFAULT_DATABASE_URL;
const missing: string[] = [];

if (spawnSync("promtool", ["--version"]).error) {
  missing.push("promtool (checks /metrics) is not on PATH: install Debian's package with `apt-get install prometheus`");
}
try {
  accessSync(CHROMIUM_PATH, constants.X_OK);
} catch {
  missing.push(`Chromium (drives /docs and /dashboard) is not at ${CHROMIUM_PATH}: install Debian's package with \`apt-get install chromium\``);
}
if (spawnSync(PGBOUNCER, ["--version"]).error) {
  missing.push(
    `PgBouncer (Neon's -pooler host, for the system-pgbouncer tests) is not at ${PGBOUNCER}: install Debian's package with \`apt-get install pgbouncer\``,
  );
}
const client = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 5000 });
try {
  await client.connect();
  await client.query("SELECT 1");
} catch (error) {
  missing.push(
    `PostgreSQL is not reachable at ${databaseUrl} (${(error as Error).message || (error as Error).name}): install Debian's package with ` +
      "`apt-get install postgresql`, start it, or set TEST_DATABASE_URL",
  );
} finally {
  await client.end().catch(() => {});
}

if (missing.length > 0) {
  for (const line of missing) console.error(`test:system: ${line}`);
  process.exit(1);
}

const vitest = spawnSync(process.execPath, ["node_modules/vitest/vitest.mjs", "run", ...process.argv.slice(2)], {
  stdio: "inherit",
  env: { ...process.env, TEST_DATABASE_URL: databaseUrl },
});
process.exit(vitest.status ?? 1);
