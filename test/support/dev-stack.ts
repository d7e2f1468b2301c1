/** Starts `npm run dev`'s script for an end-to-end test, on its own ports, database and state folder. */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { databaseNamed, freshDatabase } from "./database.ts";
import { freePort } from "./free-port.ts";
import { testProjectCopy } from "./test-project.ts";

export const root = resolve(import.meta.dirname, "../..");

export interface DevStack {
  base: string;
  /** The local Neon endpoint's /sql URL. */
  neonUrl: string;
  process: ChildProcess;
  /** wrangler's local state (PERSIST_DIR). */
  persistDir: string;
  log(): string;
  stop(): Promise<number | null>;
}

export interface DevStackOptions {
  port: number;
  neonPort: number;
  /** The PostgreSQL database to recreate when TEST_DATABASE_URL is set. */
  database: string;
  /** The project to run (default: a copy holding the test entity set, test/project: see test-project.ts). */
  root?: string;
  /** PGlite's folder, to start again on the same data (default: a fresh one). */
  pgliteDir?: string;
  /** Keep the PostgreSQL database as it is (a restart). */
  keepDatabase?: boolean;
  /** More environment for the script (settings it passes to the Worker, LOCAL_NEON_FAULTS). */
  env?: Record<string, string>;
  /** wrangler's inspector port (INSPECTOR_PORT); default: a free one, so that stacks started at once do not collide on 9229. */
  inspectorPort?: number;
}

export async function startDevStack(options: DevStackOptions): Promise<DevStack> {
  const databaseUrl = options.keepDatabase ? databaseNamed(options.database) : await freshDatabase(options.database);
  const env = {
    ...process.env,
    PORT: String(options.port),
    NEON_LOCAL_PORT: String(options.neonPort),
    INSPECTOR_PORT: String(options.inspectorPort ?? (await freePort())),
    PERSIST_DIR: mkdtempSync(join(tmpdir(), "wrangler-state-")),
    ...options.env,
    ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { PGLITE_DIR: options.pgliteDir ?? mkdtempSync(join(tmpdir(), "pglite-")) }),
  };
  const child = spawn(process.execPath, ["scripts/dev.ts"], { cwd: options.root ?? testProjectCopy(), env, stdio: ["ignore", "pipe", "pipe"] });
  let log = "";
  child.stdout!.on("data", (d) => (log += d));
  child.stderr!.on("data", (d) => (log += d));
  const base = `http://localhost:${options.port}`;
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`npm run dev exited with ${child.exitCode}:\n${log}`);
    if (
      await fetch(`${base}/health`).then(
        (r) => r.ok,
        () => false,
      )
    )
      break;
    if (Date.now() > deadline) throw new Error(`npm run dev did not become healthy in 90 s:\n${log}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    base,
    neonUrl: `http://127.0.0.1:${options.neonPort}/sql`,
    process: child,
    persistDir: env.PERSIST_DIR,
    log: () => log,
    async stop() {
      if (child.exitCode === null) {
        child.kill("SIGINT");
        await new Promise((r) => child.once("exit", r));
      }
      return child.exitCode;
    },
  };
}
