/**
 * End to end: `npm run dev`'s script starts the database, the local Neon endpoint and
 * `wrangler dev`; the seed's curl commands run verbatim (port as configured) against it.
 */
import { execSync } from "node:child_process";
import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { neon, neonConfig } from "@neondatabase/serverless";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING } from "../../scripts/local-neon/start.ts";
import { type DevStack, root, startDevStack } from "../support/dev-stack.ts";
import { freePorts } from "../support/free-port.ts";
import { tpchLines } from "../support/tpch.ts";

// Free ports, so that two runs (two worktrees, two helpers) can hold a stack each at once.
const [PORT, NEON_PORT] = await freePorts(2);
const base = `http://localhost:${PORT}`;

const curl = (command: string) => JSON.parse(execSync(command, { encoding: "utf8" })) as Record<string, unknown>;

describe("npm run dev, driven by curl", () => {
  let stack: DevStack;
  const log = () => stack.log();
  const sql = neon(LOCAL_CONNECTION_STRING);

  beforeAll(async () => {
    stack = await startDevStack({ port: PORT, neonPort: NEON_PORT, database: "nomnom_test_dev_stack" });
    neonConfig.fetchEndpoint = stack.neonUrl;
  });

  afterAll(() => stack.stop());

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

  it("answers an invalid message with 400 and the service's one error shape", () => {
    const out = execSync(`curl -s -w '\\n%{http_code}' -X POST ${base}/ingest/message -H "Content-Type: text/plain" -d "INVALID|MESSAGE"`, {
      encoding: "utf8",
    });
    const [json, status] = out.split("\n");
    expect(status).toBe("400");
    expect(JSON.parse(json)).toEqual({
      status: "error",
      code: "invalid_message",
      message: `unknown prefix "INVALID" (known: C, O, L, P)`,
      request_id: expect.stringMatching(/.+/),
      entity: null,
      line: "INVALID|MESSAGE",
      // The refused message is kept in the quarantine (docs/quarantine.md).
      rejections: expect.stringMatching(/^\/ingest\/rejections\?request_id=.+/),
    });
  });

  it("streams SSE progress to a slow client while its upload is still going on", async () => {
    const events: { at: number; event: string; data: { processed?: number } }[] = [];
    let uploadDone = Infinity;
    const request = http.request(`${base}/ingest/stream`, { method: "POST", headers: { "Content-Type": "text/plain" } });
    const finished = new Promise<void>((resolve, reject) => {
      request.on("error", reject);
      request.on("response", (response) => {
        expect(response.headers["content-type"]).toBe("text/event-stream");
        const parser = createParser({ onEvent: (e) => events.push({ at: Date.now(), event: e.event ?? "message", data: JSON.parse(e.data) }) });
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => parser.feed(chunk));
        response.on("end", resolve);
      });
    });
    // 600 lines in 6 slices, 700 ms apart: the server commits at least once a second.
    for (let slice = 0; slice < 6; slice++) {
      const lines = Array.from({ length: 100 }, (_, i) => `C|SLOW${slice * 100 + i}|Name|x|1|5|1.00|A|b`);
      request.write(lines.join("\n") + "\n");
      await new Promise((r) => setTimeout(r, 700));
    }
    request.end();
    uploadDone = Date.now();
    await finished;
    const early = events.filter((e) => e.event === "progress" && e.at < uploadDone);
    expect(early.length).toBeGreaterThanOrEqual(2);
    expect(early[0].data.processed).toBeGreaterThan(0);
    expect(early[0].data.processed).toBeLessThan(600);
    expect(events.at(-1)).toMatchObject({ event: "summary", data: { total: 600, inserted: 600, failed: 0 } });
  });

  it("keeps what was committed when the client goes away mid-stream, and logs how far it got", async () => {
    const request = http.request(`${base}/ingest/stream`, { method: "POST", headers: { "Content-Type": "text/plain" } });
    request.on("error", () => {});
    const committed = new Promise<number>((resolve) => {
      request.on("response", (response) => {
        const parser = createParser({ onEvent: (e) => e.event === "progress" && resolve(JSON.parse(e.data).inserted) });
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => parser.feed(chunk));
      });
    });
    request.write(Array.from({ length: 50 }, (_, i) => `P|GONE${i}|part|M|B|T|1|BOX|1.00|c`).join("\n") + "\n");
    expect(await committed).toBe(50);
    request.destroy();
    const deadline = Date.now() + 10_000;
    while (!log().includes("stream_aborted") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(log()).toMatch(/"event":"stream_aborted","route":"\/ingest\/stream","committed":\{"processed":50,"inserted":50/);
    const [row] = await sql.query("SELECT count(*)::int AS n FROM products WHERE part_key LIKE 'GONE%'");
    expect(row.n).toBe(50);
  });

  describe("the nomnom command-line client", () => {
    const run = (command: string) => {
      try {
        return { code: 0, stdout: execSync(command, { cwd: root, encoding: "utf8", stdio: "pipe" }), stderr: "" };
      } catch (error) {
        const e = error as { status: number; stdout: string; stderr: string };
        return { code: e.status, stdout: String(e.stdout), stderr: String(e.stderr) };
      }
    };
    const file = (lines: string[]) => {
      const path = join(mkdtempSync(join(tmpdir(), "cli-")), "messages.txt");
      writeFileSync(path, lines.join("\n") + "\n");
      return path;
    };

    it("loads standard input through npx, gzip-compressed, and exits 0", async () => {
      const path = file(tpchLines(3000, 11));
      const result = run(`cat ${path} | npx nomnom ingest - --url http://localhost:${PORT}`);
      expect(result.code).toBe(0);
      expect(result.stdout).toMatch(/^success: 3,000 lines, 3,000 inserted, 0 duplicates, 0 failed in [\d.]+ s$/m);
      const [row] = await sql.query("SELECT count(*)::int AS n FROM orders WHERE order_key::bigint BETWEEN 11000000 AND 12000000");
      expect(row.n).toBeGreaterThan(0);
    });

    it("prints rejected lines with their numbers and exits 1", () => {
      const result = run(`node scripts/nomnom.mjs ingest ${file(["C|C77|Ann|x|1|5|1.00|A|b", "C|C78|Bo|x|one|5|1.00|A|b"])} --url http://localhost:${PORT}`);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`line 2: Customer: field 4 'nation_key' must be an integer between -2147483648 and 2147483647, got "one"`);
      expect(result.stderr).toMatch(/^progress: 2 lines, [\d,]+ lines\/s, inserted 1 {2}duplicates 0 {2}failed 1$/m);
    });

    it("exits 2 when the server cannot be reached, retrying a file but not standard input", () => {
      const fromStdin = run(`echo "C|C1|A|x|1|5|1.00|A|b" | node scripts/nomnom.mjs ingest - --url http://127.0.0.1:9`);
      expect(fromStdin.code).toBe(2);
      expect(fromStdin.stderr).not.toContain("retrying");
      expect(fromStdin.stderr).toContain("cannot reach http://127.0.0.1:9");
    });

    it("exits 64 on wrong usage", () => {
      expect(run("node scripts/nomnom.mjs ingest -").code).toBe(64);
      expect(run("node scripts/nomnom.mjs frobnicate --url http://x").stderr).toContain("unknown command frobnicate");
    });
  });

  it("delivers a gzip bomb's failure event on /ingest/stream before the connection closes", () => {
    const file = join(mkdtempSync(join(tmpdir(), "bomb-")), "bomb.gz");
    // 101 MiB of zeros inflate past MAX_BODY_BYTES (100 MiB) from about 100 KiB on the wire.
    writeFileSync(file, gzipSync(Buffer.alloc(101 * 1024 * 1024, 0x30)));
    const out = execSync(`curl -sN -X POST ${base}/ingest/stream -H "Content-Type: text/plain" -H "Content-Encoding: gzip" --data-binary @${file}`, {
      encoding: "utf8",
      maxBuffer: 64 * 1024 * 1024,
    });
    const failure = /event: failure\ndata: (.*)\n/.exec(out);
    expect(failure, out.slice(-500)).not.toBeNull();
    expect(JSON.parse(failure![1])).toMatchObject({
      status: "error",
      http_status: 413,
      code: "body_too_large",
      message: expect.stringContaining("MAX_BODY_BYTES"),
    });
  });

  it("delivers a 413 for an oversized message, not an empty reply, every time", () => {
    const file = join(mkdtempSync(join(tmpdir(), "big-")), "big.txt");
    writeFileSync(file, `C|C1|${"x".repeat(3 * 1024 * 1024)}`);
    for (let i = 0; i < 5; i++) {
      const out = execSync(`curl -s -w '\n%{http_code}' -X POST ${base}/ingest/message -H "Content-Type: text/plain" --data-binary @${file}`, {
        encoding: "utf8",
      });
      const [json, status] = out.split("\n");
      expect(status).toBe("413");
      expect(JSON.parse(json)).toMatchObject({ code: "body_too_large", message: expect.stringContaining("MAX_LINE_BYTES") });
    }
  });

  // wrangler's default since 4.118.0 writes every request's trace to SQLite in the Worker's process (scripts/wrangler-env.ts).
  it("runs without wrangler's local trace capture: no trace store among its state after the requests above", () => {
    const state = readdirSync(join(stack.persistDir, "v3"));
    expect(state).not.toContain("observability");
    expect(state.length).toBeGreaterThan(0);
  });

  it("stops everything it started on Ctrl-C", async () => {
    expect(await stack.stop()).toBe(0);
    await expect(fetch(`${base}/health`)).rejects.toThrow();
    await expect(fetch(stack.neonUrl, { method: "POST" })).rejects.toThrow();
  });
});
