/** The nomnom client's answers to a user's mistakes: one line on stderr, a documented exit code, no stack trace. */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
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
