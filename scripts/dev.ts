/**
 * npm run dev: the whole local stack in one command.
 *   database  embedded PGlite in .data/pglite (kept across restarts), or DATABASE_URL's PostgreSQL
 *   migrations applied, then the local Neon-protocol endpoint, then `wrangler dev` on PORT (8080)
 *   (HOST, NEON_LOCAL_PORT, PGLITE_DIR, PERSIST_DIR change the rest; STATS_ENABLED, API_KEYS, DB_RETRY_MS and
 *   ASYNC_FALLBACK are passed to the Worker)
 * Ctrl-C stops everything it started.
 */
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { LOCAL_CONNECTION_STRING, startLocalNeon } from "./local-neon/start.ts";

const root = resolve(import.meta.dirname, "..");
const PASSED_THROUGH = ["STATS_ENABLED", "API_KEYS", "DB_RETRY_MS", "ASYNC_FALLBACK"];
const port = process.env.PORT ?? "8080";
const databaseUrl = process.env.DATABASE_URL;
const pgliteDir = process.env.PGLITE_DIR ?? resolve(root, ".data/pglite");

// LOCAL_NEON_FAULTS=1 lets tests and drills fail the database on purpose (POST /__faults on the endpoint).
const local = await startLocalNeon({ databaseUrl, pgliteDir: databaseUrl ? undefined : pgliteDir, port: Number(process.env.NEON_LOCAL_PORT ?? 0), faults: process.env.LOCAL_NEON_FAULTS === "1", log: (line) => console.log(`[dev] migrations: ${line}`) });
console.log(`[dev] database: ${databaseUrl ? databaseUrl.replace(/:[^:@/]*@/, ":***@") : `PGlite in ${pgliteDir}`} (migrations applied)`);
console.log(`[dev] local Neon endpoint: ${local.url}`);

const wrangler = spawn(
  process.execPath,
  [
    resolve(root, "node_modules/wrangler/bin/wrangler.js"), "dev",
    "--port", port, "--ip", process.env.HOST ?? "localhost",
    "--var", `NEON_FETCH_ENDPOINT:${local.url}`,
    "--var", `DATABASE_URL:${LOCAL_CONNECTION_STRING}`,
    // Locally, requests without an API key are allowed (ALLOW_ANONYMOUS=false to try keys).
    "--var", `ALLOW_ANONYMOUS:${process.env.ALLOW_ANONYMOUS ?? "true"}`,
    "--show-interactive-dev-session=false",
    // Settings a benchmark or a drill may change (API_KEYS locally only: in production it is a secret, see npm run key).
    ...PASSED_THROUGH.flatMap((name) => (process.env[name] ? ["--var", `${name}:${process.env[name]}`] : [])),
    // Local Durable Object (stats) state; tests give each stack its own folder.
    ...(process.env.PERSIST_DIR ? ["--persist-to", process.env.PERSIST_DIR] : []),
  ],
  { cwd: root, stdio: "inherit", env: { ...process.env, WRANGLER_SEND_METRICS: "false", CLOUDFLARE_CF_FETCH_ENABLED: "false" } },
);

let stopping: Promise<never> | undefined;
/** Stops wrangler, then the endpoint and database; the first caller's exit code wins. */
function stop(code: number): Promise<never> {
  stopping ??= (async () => {
    if (wrangler.exitCode === null && wrangler.signalCode === null) {
      wrangler.kill("SIGTERM");
      await new Promise((done) => wrangler.once("exit", done));
    }
    await local.close();
    process.exit(code);
  })();
  return stopping;
}

process.on("SIGINT", () => void stop(0));
process.on("SIGTERM", () => void stop(0));
wrangler.on("exit", (code) => void stop(code ?? 1));
