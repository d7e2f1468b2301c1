/**
 * The local stack under test, started the way `npm run dev` starts it (scripts/dev.ts: migrations,
 * the local Neon endpoint on a free port, `wrangler dev`), as a child process so the endpoint does
 * not share the benchmark client's event loop. Its output goes to a log file, not through us.
 */
import { spawn } from "node:child_process";
import { closeSync, openSync, readFileSync } from "node:fs";
import { createServer } from "node:net";
import { resolve } from "node:path";
import { wranglerEnv } from "../wrangler-env.ts";
import { descendants } from "./monitor.ts";

const root = resolve(import.meta.dirname, "../..");
const READY_TIMEOUT_MS = 90_000;
const STOP_TIMEOUT_MS = 15_000;

export interface Stack {
  /** The Worker's base URL. */
  url: string;
  pid: number;
  stop(): Promise<void>;
}

/** Fails unless `port` is free: a health check must not succeed against someone else's server. */
async function assertPortFree(port: number): Promise<void> {
  const server = createServer();
  await new Promise<void>((done, fail) => {
    server.once("error", (error) => fail(new Error(`port ${port} is already in use: the benchmark's wrangler dev needs it (${error.message})`)));
    server.listen(port, "127.0.0.1", done);
  });
  await new Promise((done) => server.close(done));
}

const tail = (file: string) => readFileSync(file, "utf8").split("\n").slice(-30).join("\n");

/** Spawns `args` with node, output to `logFile`, and resolves once `ready(url)` says so. */
async function start(args: string[], env: NodeJS.ProcessEnv, port: number, logFile: string, ready: (url: string) => Promise<boolean>): Promise<Stack> {
  await assertPortFree(port);
  const log = openSync(logFile, "w");
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: wranglerEnv(env),
    stdio: ["ignore", log, log],
  });
  closeSync(log);
  const exited = new Promise<void>((done) => child.once("exit", () => done()));
  const url = `http://127.0.0.1:${port}`;

  const stop = async () => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    const pids = descendants(child.pid!);
    child.kill("SIGTERM"); // it stops its own children (dev.ts: wrangler and its workerd, then the endpoint)
    const timedOut = await Promise.race([exited.then(() => false), new Promise<boolean>((done) => setTimeout(() => done(true), STOP_TIMEOUT_MS).unref())]);
    if (!timedOut) return;
    for (const pid of [child.pid!, ...pids]) {
      try {
        process.kill(pid, "SIGKILL");
      } catch {
        // already gone
      }
    }
  };

  const deadline = Date.now() + READY_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`${args[0]} exited with ${child.exitCode} while starting:\n${tail(logFile)}`);
    if (await ready(url).catch(() => false)) return { url, pid: child.pid!, stop };
    await new Promise((r) => setTimeout(r, 250));
  }
  await stop();
  throw new Error(`${args[0]} was not ready within ${READY_TIMEOUT_MS / 1000} s:\n${tail(logFile)}`);
}

export function startStack(databaseUrl: string, port: number, logFile: string, extraEnv: Record<string, string> = {}): Promise<Stack> {
  const env: NodeJS.ProcessEnv = { ...process.env, PORT: String(port), HOST: "127.0.0.1", DATABASE_URL: databaseUrl, ...extraEnv };
  delete env.NEON_LOCAL_PORT; // let the endpoint pick a free port
  return start([resolve(root, "scripts/dev.ts")], env, port, logFile, async (url) => {
    const health = (await fetch(`${url}/health`).then((r) => (r.ok ? r.json() : undefined))) as { database?: string } | undefined;
    return health?.database === "ok";
  });
}

/** The local Neon endpoint's URL that a started stack printed to its log (scripts/dev.ts). */
export function neonEndpointOf(logFile: string): string {
  const found = /\[dev\] local Neon endpoint: (\S+)/.exec(readFileSync(logFile, "utf8"));
  if (!found) throw new Error(`no local Neon endpoint in ${logFile}`);
  return found[1];
}

/**
 * The bench Worker (bench-worker/index.ts) under `wrangler dev` alone: the local stack's floor, and the parsers in workerd.
 * `neon`: the local Neon endpoint and database its `?neon=1` requests go to.
 */
export function startBenchWorker(port: number, logFile: string, neon?: { endpoint: string; databaseUrl: string }): Promise<Stack> {
  const args = [
    resolve(root, "node_modules/wrangler/bin/wrangler.js"),
    "dev",
    "--config",
    resolve(root, "scripts/bench/bench-worker/wrangler.toml"),
    "--port",
    String(port),
    "--ip",
    "127.0.0.1",
    "--inspector-port",
    "0",
    "--show-interactive-dev-session=false",
    // As npm run dev starts the service (scripts/dev.ts): wrangler's facade for /__scheduled wraps every request, on both sides.
    "--test-scheduled",
    ...(neon ? ["--var", `NEON_ENDPOINT:${neon.endpoint}`, "--var", `NEON_DATABASE_URL:${neon.databaseUrl}`] : []),
  ];
  return start(args, { ...process.env }, port, logFile, async (url) => (await fetch(url, { method: "POST", body: "" })).ok);
}
