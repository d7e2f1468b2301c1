/**
 * The nomnom CLI against `npm run dev` (real HTTP): gzip input sent as gzip, a 429 retried after its
 * Retry-After, and a run interrupted (Ctrl-C, or the server gone) that says what was committed and
 * how to resume, whose resumed run ends with every line written exactly once.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { neon, neonConfig } from "@neondatabase/serverless";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING } from "../../scripts/local-neon/start.ts";
import { type DevStack, root, startDevStack } from "../support/dev-stack.ts";
import { faultAt } from "../support/faults.ts";
import { freePort } from "../support/free-port.ts";

let stack: DevStack;
const sql = neon(LOCAL_CONNECTION_STRING);
const rowsLike = async (prefix: string) => Number((await sql.query("SELECT count(*) AS n FROM customers WHERE customer_key LIKE $1", [`${prefix}%`]))[0].n);
const lines = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `C|${prefix}${i}|Ann|x|1|5|1.00|A|b`);
const dir = mkdtempSync(join(tmpdir(), "nomnom-cli-"));

/** Runs the CLI as a user does, with its exit code and output; `input` as its standard input. */
function nomnom(args: string[], input?: Buffer, env: Record<string, string> = {}) {
  const run = spawnSync(process.execPath, ["scripts/nomnom.mjs", ...args], {
    cwd: root,
    encoding: "utf8",
    input,
    timeout: 60_000,
    env: { ...process.env, ...env },
  });
  return { code: run.status, stdout: run.stdout, stderr: run.stderr };
}

/** The CLI running in the background, its stderr so far, and its exit. */
function nomnomAsync(args: string[], stdin: "ignore" | "pipe" = "ignore") {
  const child: ChildProcess = spawn(process.execPath, ["scripts/nomnom.mjs", ...args], { cwd: root, stdio: [stdin, "pipe", "pipe"] });
  let stderr = "";
  let stdout = "";
  child.stderr!.on("data", (d) => (stderr += d));
  child.stdout!.on("data", (d) => (stdout += d));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code, signal) => resolve(code ?? (signal ? 128 : null))));
  const until = async (pattern: RegExp, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!pattern.test(stderr)) {
      if (Date.now() > deadline) throw new Error(`no ${pattern} in nomnom's output:\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  };
  return { child, exited, until, stderr: () => stderr, stdout: () => stdout };
}

beforeAll(async () => {
  stack = await startDevStack({
    port: await freePort(),
    neonPort: await freePort(),
    database: "nomnom_test_cli_resume",
    env: { LOCAL_NEON_FAULTS: "1", MAX_STREAMS_PER_KEY: "1" },
  });
  neonConfig.fetchEndpoint = stack.neonUrl;
}, 120_000);
afterAll(() => stack?.stop());

describe("nomnom ingest with gzip input", () => {
  it("sends a .gz file with Content-Encoding: gzip, not as text: every line written", async () => {
    const file = join(dir, "lines.txt.gz");
    writeFileSync(file, gzipSync(`${lines("gzfile-", 2000).join("\n")}\n`));
    const run = nomnom(["ingest", file, "--url", stack.base]);
    expect(run.stderr).not.toContain("UTF-8");
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^success: 2,000 lines, 2,000 inserted, 0 duplicates, 0 failed/m);
    expect(await rowsLike("gzfile-")).toBe(2000);
  });

  it("recognises gzip on standard input by its first bytes", async () => {
    const run = nomnom(["ingest", "-", "--url", stack.base], gzipSync(`${lines("gzpipe-", 1500).join("\n")}\n`));
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^success: 1,500 lines, 1,500 inserted/m);
    expect(await rowsLike("gzpipe-")).toBe(1500);
  });

  it("resumes a .gz file from a line: the lines before it are left out", async () => {
    const file = join(dir, "from.txt.gz");
    writeFileSync(file, gzipSync(`${lines("gzfrom-", 1000).join("\n")}\n`));
    const run = nomnom(["ingest", file, "--url", stack.base, "--from-line", "401"]);
    expect(run.code).toBe(0);
    expect(run.stdout).toMatch(/^success: 600 lines, 600 inserted/m);
    expect(await rowsLike("gzfrom-")).toBe(600);
  });
});

describe("nomnom ingest with a key from NOMNOM_KEY", () => {
  it("sends it: a wrong one is the server's 401, exit 2", () => {
    const file = join(dir, "keyed.txt");
    writeFileSync(file, `${lines("keyed-", 3).join("\n")}\n`);
    const run = nomnom(["ingest", file, "--url", stack.base], undefined, { NOMNOM_KEY: "not-a-key" });
    expect(run.code).toBe(2);
    expect(run.stderr).toMatch(/^nomnom: POST \/ingest\/stream: 401 unauthorized: the API key is not valid \(check the key\)$/m);
  });
});

describe("nomnom ingest when the server says wait", () => {
  it("retries a 429 (MAX_STREAMS_PER_KEY streams open) after its Retry-After, then loads the file", async () => {
    // Holds the one stream slot with an upload that has not ended.
    let finish = () => {};
    const body = new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode("C|holder-1|Ann|x|1|5|1.00|A|b\n"));
        finish = () => controller.close();
      },
    });
    const holder = await fetch(`${stack.base}/ingest/stream`, {
      method: "POST",
      body,
      headers: { "Content-Type": "text/plain" },
      duplex: "half",
    } as RequestInit);
    expect(holder.status).toBe(200);

    const file = join(dir, "wait.txt");
    writeFileSync(file, `${lines("wait-", 300).join("\n")}\n`);
    const cli = nomnomAsync(["ingest", file, "--url", stack.base]);
    await cli.until(/the server answered 429; retry 1 in 2\.0 s/);
    finish();
    await holder.text();
    expect(await cli.exited).toBe(0);
    expect(cli.stdout()).toMatch(/^success: 300 lines, 300 inserted/m);
    expect(await rowsLike("wait-")).toBe(300);
  });
});

describe("nomnom ingest interrupted", () => {
  /** 60,000 lines, with blank and comment lines among them (not messages: the resume line must count them anyway). */
  function bigFile(prefix: string): string {
    const all = lines(prefix, 60_000).flatMap((line, i) => (i % 7000 === 3 ? ["", "# a comment", line] : [line]));
    const file = join(dir, `${prefix}.txt`);
    writeFileSync(file, `${all.join("\n")}\n`);
    return file;
  }

  it("on Ctrl-C: stops sending at a line's end, prints the server's count and the command that resumes; the resumed run writes the rest, no line twice", async () => {
    // Standard input from a producer still writing, as `producer | nomnom ingest -`: the input outlasts the Ctrl-C.
    const all = lines("sigint-", 20_000).flatMap((line, i) => (i % 3000 === 3 ? ["", "# a comment", line] : [line]));
    const cli = nomnomAsync(["ingest", "-", "--url", stack.base], "pipe");
    let written = 0;
    const producing = (async () => {
      for (; written < all.length && cli.child.stdin!.writable; written += 500) {
        cli.child.stdin!.write(`${all.slice(written, written + 500).join("\n")}\n`);
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      cli.child.stdin!.end();
    })();
    cli.child.stdin!.on("error", () => {});
    await cli.until(/^progress: [1-9]/m);
    cli.child.kill("SIGINT");
    expect(await cli.exited).toBe(130);
    await producing;
    const stderr = cli.stderr();
    expect(stderr).toContain("nomnom: stopping: no more lines are sent; waiting for the server to count what it has (Ctrl-C again to leave now)");
    const summary = /^success: ([\d,]+) lines, ([\d,]+) inserted, 0 duplicates, 0 failed/m.exec(cli.stdout());
    expect(summary, cli.stdout() + stderr).not.toBeNull();
    const committed = /^nomnom: the server committed lines 1 to ([\d,]+) \(([\d,]+) messages\); resume with:\n {2}\(the same input\) \| nomnom (.*)$/m.exec(
      stderr,
    );
    expect(committed, stderr).not.toBeNull();
    expect(committed![2]).toBe(summary![1]);
    const args = committed![3].split(" ");
    const fromLine = Number(args.at(-1));
    expect(args).toEqual(["ingest", "-", "--url", stack.base, "--from-line", String(fromLine)]);
    expect(fromLine).toBe(Number(committed![1].replaceAll(",", "")) + 1);
    expect(fromLine).toBeGreaterThan(1);
    expect(fromLine).toBeLessThan(all.length);

    // The resumed run, given the same input, sends exactly the lines not committed: all inserted, none a duplicate.
    const run = nomnom(args, Buffer.from(`${all.join("\n")}\n`));
    expect(run.code).toBe(0);
    const rest = /^success: ([\d,]+) lines, ([\d,]+) inserted, 0 duplicates, 0 failed/m.exec(run.stdout);
    expect(rest, run.stdout + run.stderr).not.toBeNull();
    const sentAgain = all.slice(fromLine - 1).filter((line) => line.startsWith("C|")).length;
    expect(Number(rest![1].replaceAll(",", ""))).toBe(sentAgain);
    expect(Number(rest![2].replaceAll(",", ""))).toBe(sentAgain);
    expect(await rowsLike("sigint-")).toBe(20_000);
  });

  it("on a second Ctrl-C: leaves at once, with the last count the server sent as a lower bound", async () => {
    const file = bigFile("twice-");
    await faultAt(stack.neonUrl, "slow", { delayMs: 400 });
    const cli = nomnomAsync(["ingest", file, "--url", stack.base]);
    await cli.until(/^progress: [1-9]/m);
    cli.child.kill("SIGINT");
    await cli.until(/^nomnom: stopping/m);
    cli.child.kill("SIGINT");
    expect(await cli.exited).toBe(130);
    await faultAt(stack.neonUrl, "none");
    expect(cli.stderr()).toMatch(
      /^nomnom: interrupted\nnomnom: the server had committed at least lines 1 to [\d,]+ \([\d,]+ messages\) \(any more are duplicates when resumed\); resume with:$/m,
    );
  });

  it("on a dropped connection (the server stopped): exit 3, the last committed line and the resume command", async () => {
    const file = bigFile("dropped-");
    await faultAt(stack.neonUrl, "slow", { delayMs: 400 });
    const cli = nomnomAsync(["ingest", file, "--url", stack.base]);
    await cli.until(/^progress: [1-9]/m);
    await stack.stop();
    expect(await cli.exited).toBe(3);
    const stderr = cli.stderr();
    expect(stderr).toMatch(/^nomnom: the connection to http:\/\/localhost:\d+ was lost during the stream/m);
    expect(stderr).toMatch(
      /^nomnom: the server had committed at least lines 1 to [\d,]+ \([\d,]+ messages\) \(any more are duplicates when resumed\); resume with:\n {2}nomnom ingest \S+ --url \S+ --from-line \d+$/m,
    );
  });
});
