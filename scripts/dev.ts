/**
 * npm run dev: the whole local stack in one command.
 *   database  embedded PGlite in .data/pglite (kept across restarts), or DATABASE_URL's PostgreSQL
 *   migrations applied, then the local Neon-protocol endpoint, then `wrangler dev` on PORT (8080)
 *   over PostgreSQL, also the local Neon WebSocket endpoint (COPY for bulk writes; BULK_WRITER=insert to compare)
 *   (HOST, NEON_LOCAL_PORT, NEON_LOCAL_WS_PORT, INSPECTOR_PORT (wrangler's, default 9229), PGLITE_DIR, PERSIST_DIR change the rest; BULK_WRITER,
 *   STATS_ENABLED, API_KEYS, DB_RETRY_MS, ASYNC_FALLBACK, BODY_IDLE_TIMEOUT_MS, MAX_STREAMS_PER_KEY, CORS_ORIGINS, MAX_BATCH_ITEMS,
 *   QUEUE_RETRY_DELAY_S and QUEUE_MAX_RETRIES are passed to the Worker)
 *   the every-minute Cron Trigger (re-drive of parked queue parts) is fired by this script: wrangler dev fires none
 *   X_LOCAL_OBSERVABILITY=true  wrangler's local trace capture (Local Explorer), off here: see wrangler-env.ts
 *   LOCAL_NEON_PASSWORD  the password the endpoint demands, as Neon does (default: any)
 *   WORKER_DATABASE_URL  the connection string the Worker sends (default: the endpoint's own, with that password),
 *                        e.g. a wrong password to see how the Worker answers a misconfigured database
 * Over PGlite it leaves its endpoint's address beside the folder (.data/pglite.endpoint.json), so that
 * `npm run sql` can reach the database while it runs. Ctrl-C stops everything it started.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { announceEndpoint } from "./dev-database.ts";
import { startLocalNeon } from "./local-neon/start.ts";
import { wranglerEnv } from "./wrangler-env.ts";

const root = resolve(import.meta.dirname, "..");
const PASSED_THROUGH = [
  "BULK_WRITER",
  "STATS_ENABLED",
  "API_KEYS",
  "DB_RETRY_MS",
  "ASYNC_FALLBACK",
  "BODY_IDLE_TIMEOUT_MS",
  "MAX_STREAMS_PER_KEY",
  "CORS_ORIGINS",
  "MAX_BATCH_ITEMS",
  "QUEUE_RETRY_DELAY_S",
  "QUEUE_MAX_RETRIES",
];
/** How often the re-drive Cron Trigger is fired here (wrangler dev does not fire Cron Triggers itself). */
const REDRIVE_EVERY_MS = Number(process.env.DEV_REDRIVE_MS ?? 30_000);
const port = process.env.PORT ?? "8080";
const databaseUrl = process.env.DATABASE_URL;
const pgliteDir = process.env.PGLITE_DIR ?? resolve(root, ".data/pglite");

const password = process.env.LOCAL_NEON_PASSWORD || undefined;
const hidePassword = (url: string) => url.replace(/:[^:@/]*@/, ":***@");
// LOCAL_NEON_FAULTS=1 lets tests and drills fail the database on purpose (POST /__faults on the endpoint).
const local = await startLocalNeon({
  databaseUrl,
  pgliteDir: databaseUrl ? undefined : pgliteDir,
  port: Number(process.env.NEON_LOCAL_PORT ?? 0),
  wsPort: Number(process.env.NEON_LOCAL_WS_PORT ?? 0),
  faults: process.env.LOCAL_NEON_FAULTS === "1",
  password,
  log: (line) => console.log(`[dev] migrations: ${line}`),
});
// PGlite takes one process: `npm run sql` goes through this endpoint while it runs.
const unannounce = databaseUrl ? () => {} : announceEndpoint(pgliteDir, { pid: process.pid, url: local.url, connectionString: local.connectionString });
// Anything this script runs against the endpoint itself uses local.connectionString (the right password).
const workerDatabaseUrl = process.env.WORKER_DATABASE_URL || local.connectionString;
console.log(`[dev] database: ${databaseUrl ? hidePassword(databaseUrl) : `PGlite in ${pgliteDir}`} (migrations applied)`);
console.log(`[dev] local Neon endpoint: ${local.url}`);
// Over PGlite there is none (it cannot take COPY FROM STDIN through a socket): bulk writes use INSERT.
console.log(
  `[dev] local Neon WebSocket endpoint: ${local.wsProxy ? `ws://${local.wsProxy} (bulk writer: ${process.env.BULK_WRITER ?? "copy"})` : "none over PGlite (bulk writer: insert)"}`,
);
if (password !== undefined) console.log("[dev] local Neon endpoint password: required (LOCAL_NEON_PASSWORD)");
console.log(
  `[dev] the Worker's DATABASE_URL: ${hidePassword(workerDatabaseUrl)}${workerDatabaseUrl === local.connectionString ? "" : " (WORKER_DATABASE_URL)"}`,
);

const wrangler = spawn(
  process.execPath,
  [
    resolve(root, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--port",
    port,
    "--ip",
    process.env.HOST ?? "localhost",
    "--var",
    `NEON_FETCH_ENDPOINT:${local.url}`,
    ...(local.wsProxy ? ["--var", `NEON_WS_PROXY:${local.wsProxy}`] : []),
    "--var",
    `DATABASE_URL:${workerDatabaseUrl}`,
    // Locally, requests without an API key are allowed (ALLOW_ANONYMOUS=false to try keys).
    "--var",
    `ALLOW_ANONYMOUS:${process.env.ALLOW_ANONYMOUS ?? "true"}`,
    "--show-interactive-dev-session=false",
    // /__scheduled: how this script fires the Cron Trigger (below).
    "--test-scheduled",
    // Two stacks on one machine need two inspector ports (wrangler's default is 9229).
    ...(process.env.INSPECTOR_PORT ? ["--inspector-port", process.env.INSPECTOR_PORT] : []),
    // Settings a benchmark or a drill may change (API_KEYS locally only: in production it is a secret, see npm run key).
    ...PASSED_THROUGH.flatMap((name) => (process.env[name] ? ["--var", `${name}:${process.env[name]}`] : [])),
    // Readable function names in a CPU profile (npm run bench:profile).
    ...(process.env.DEV_MINIFY === "false" ? ["--minify=false"] : []),
    // Local Durable Object (stats) state; tests give each stack its own folder.
    ...(process.env.PERSIST_DIR ? ["--persist-to", process.env.PERSIST_DIR] : []),
  ],
  { cwd: root, stdio: "inherit", env: wranglerEnv(process.env) },
);

// The re-drive of parked queue parts, as the deployed every-minute Cron Trigger would run it.
const redrive = setInterval(() => {
  fetch(`http://${process.env.HOST ?? "localhost"}:${port}/__scheduled?cron=${encodeURIComponent("* * * * *")}`).catch(() => {
    // wrangler is starting or stopping: the next tick tries again
  });
}, REDRIVE_EVERY_MS);

let stopping: Promise<never> | undefined;
/** Stops wrangler, then the endpoint and database; the first caller's exit code wins. */
function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    clearInterval(redrive);
    if (wrangler.exitCode === null && wrangler.signalCode === null) {
      wrangler.kill("SIGTERM");
      await new Promise((done) => wrangler.once("exit", done));
    }
    unannounce();
    await local.close();
    process.exit(code);
  })();
  return stopping;
}

process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
wrangler.on("exit", (code) => void stop(code ?? 1));
