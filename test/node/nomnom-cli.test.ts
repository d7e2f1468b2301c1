/** The nomnom client's answers to a user's mistakes: one line on stderr, a documented exit code, no stack trace. */
import { spawn } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gunzipSync } from "node:zlib";
import { describe, expect, it } from "vitest";
import { root } from "../support/dev-stack.ts";
import { freePort } from "../support/free-port.ts";
import { nomnom } from "../support/nomnom.ts";

describe("nomnom ingest, on a user's mistake", () => {
  it("a missing file: exit 66 and one line naming it", () => {
    const run = nomnom("ingest", "no-such-file.txt", "--url", "http://127.0.0.1:9");
    expect(run.status).toBe(66);
    expect(run.lines).toEqual(["nomnom: cannot read no-such-file.txt: no such file or directory"]);
  });

  it("a directory instead of a file: exit 66", () => {
    const dir = mkdtempSync(join(tmpdir(), "nomnom-dir-"));
    const run = nomnom("ingest", dir, "--url", "http://127.0.0.1:9");
    expect(run.status).toBe(66);
    expect(run.lines).toEqual([`nomnom: cannot read ${dir}: is a directory`]);
  });

  it("a malformed or non-HTTP URL: exit 64 (wrong usage) and one line", () => {
    for (const url of ["localhost 8080", "ftp://127.0.0.1/"]) {
      const run = nomnom("ingest", "package.json", "--url", url);
      expect(run.status).toBe(64);
      expect(run.lines).toEqual([`nomnom: --url must be an http:// or https:// URL, got ${JSON.stringify(url)}`]);
    }
  });

  it("a refused connection: exit 2 at once, one line, no retries", async () => {
    const port = await freePort();
    const file = join(mkdtempSync(join(tmpdir(), "nomnom-")), "lines.txt");
    writeFileSync(file, "C|C1|Name|x|1|5|1.00|A|b\n");
    const started = Date.now();
    const run = nomnom("ingest", file, "--url", `http://127.0.0.1:${port}`);
    expect(run.status).toBe(2);
    expect(run.lines).toEqual([`nomnom: cannot reach http://127.0.0.1:${port}: connection refused (is the server running, and is --url right?)`]);
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(run.stderr).not.toMatch(/\n\s+at /);
  });
});

describe("nomnom ingest, what it sends", () => {
  it("a file goes gzip-compressed, so a cut-off upload is told from a whole one (gzip's trailer), also with --no-gzip", async () => {
    const file = join(mkdtempSync(join(tmpdir(), "nomnom-")), "lines.txt");
    const text = "C|C1|Name|x|1|5|1.00|A|b\nC|C2|Name|x|1|5|1.00|A|no final newline";
    writeFileSync(file, text);
    const seen: { encoding?: string; text: string }[] = [];
    const server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (d: Buffer) => chunks.push(d));
      req.on("end", () => {
        if (req.method !== "POST") return res.end();
        seen.push({ encoding: req.headers["content-encoding"], text: gunzipSync(Buffer.concat(chunks)).toString() });
        res.writeHead(200, { "Content-Type": "text/event-stream" });
        res.end(`event: summary\ndata: ${JSON.stringify({ status: "success", total: 2, inserted: 2, duplicates: 0, failed: 0, duration_ms: 1 })}\n\n`);
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as AddressInfo;
    const child = spawn(process.execPath, ["scripts/nomnom.mjs", "ingest", file, "--url", `http://127.0.0.1:${port}`, "--no-gzip"], { cwd: root });
    const code = await new Promise((r) => child.on("exit", r));
    server.close();
    expect(code).toBe(0);
    expect(seen).toEqual([{ encoding: "gzip", text }]);
  });
});
