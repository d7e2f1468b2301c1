/**
 * End to end: `npm run dev`'s script starts the database, the local Neon endpoint and
 * `wrangler dev`; the seed's curl commands run verbatim (port as configured) against it.
 */
import { execSync, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { neon, neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING } from "../../scripts/local-neon/start.ts";
import { freshDatabase } from "../support/database.ts";
import { tpchLines } from "../support/tpch.ts";

const root = resolve(import.meta.dirname, "../..");
const PORT = 18787;
const NEON_PORT = 45433;
const base = `http://localhost:${PORT}`;

async function waitForHealth(dev: ChildProcess, output: () => string): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (dev.exitCode !== null) throw new Error(`npm run dev exited with ${dev.exitCode}:\n${output()}`);
    const ok = await fetch(`${base}/health`).then((r) => r.ok, () => false);
    if (ok) return;
    await new Promise((r) => setTimeout(r, 500));
  }
  throw new Error(`npm run dev did not become healthy in 90 s:\n${output()}`);
}

const curl = (command: string) => JSON.parse(execSync(command, { encoding: "utf8" })) as Record<string, unknown>;

describe("npm run dev, driven by curl", () => {
  let dev: ChildProcess;
  let log = "";
  const sql = neon(LOCAL_CONNECTION_STRING);

  beforeAll(async () => {
    const databaseUrl = await freshDatabase("nomnom_test_dev_stack");
    const env = { ...process.env, PORT: String(PORT), NEON_LOCAL_PORT: String(NEON_PORT), ...(databaseUrl ? { DATABASE_URL: databaseUrl } : { PGLITE_DIR: mkdtempSync(join(tmpdir(), "pglite-")) }) };
    dev = spawn(process.execPath, ["scripts/dev.ts"], { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] });
    dev.stdout!.on("data", (d) => (log += d));
    dev.stderr!.on("data", (d) => (log += d));
    await waitForHealth(dev, () => log);
    neonConfig.fetchEndpoint = `http://127.0.0.1:${NEON_PORT}/sql`;
  });

  afterAll(async () => {
    if (dev.exitCode === null) {
      dev.kill("SIGINT");
      await new Promise((r) => dev.once("exit", r));
    }
  });

  it("writes the seed's message and answers its id", async () => {
    const body = curl(`curl -s -X POST ${base}/ingest/message -H "Content-Type: text/plain" -d "O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|test"`);
    expect(body).toMatchObject({ status: "success", entity: "Order", id: expect.any(Number) });
    const rows = await sql.query("SELECT id, order_key, total_price::text, order_date::text FROM orders WHERE order_key = '1'");
    expect(rows).toEqual([{ id: String(body.id), order_key: "1", total_price: "123.45", order_date: "1996-01-02" }]);
  });

  it("loads a batch from a file, and reports the same file as duplicates when loaded again", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "batch-")), "messages.txt");
    writeFileSync(file, tpchLines(2000, 7).join("\n") + "\n");
    const command = `curl -s -X POST ${base}/ingest/batch -H "Content-Type: text/plain" --data-binary @${file}`;
    expect(curl(command)).toMatchObject({ status: "success", processed: 2000, inserted: 2000, duplicates: 0, failed: 0 });
    expect(curl(command)).toMatchObject({ status: "success", processed: 2000, inserted: 0, duplicates: 2000, failed: 0 });
  });

  it("answers an invalid message with 400 and the seed's error JSON", () => {
    const out = execSync(`curl -s -w '\\n%{http_code}' -X POST ${base}/ingest/message -H "Content-Type: text/plain" -d "INVALID|MESSAGE"`, { encoding: "utf8" });
    const [json, status] = out.split("\n");
    expect(status).toBe("400");
    expect(JSON.parse(json)).toEqual({ status: "error", message: `unknown prefix "INVALID" (known: C, O, L, P)`, entity: null, line: "INVALID|MESSAGE" });
  });

  it("stops everything it started on Ctrl-C", async () => {
    dev.kill("SIGINT");
    const code = await new Promise((r) => dev.once("exit", r));
    expect(code).toBe(0);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    await expect(fetch(`http://127.0.0.1:${NEON_PORT}/sql`, { method: "POST" })).rejects.toThrow();
  });
});
