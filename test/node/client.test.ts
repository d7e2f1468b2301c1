/**
 * nomnom-edge/client against `npm run dev` (real HTTP, real workerd, the local Neon endpoint): it
 * batches for the user, retries what is worth retrying without writing twice, and fails with one
 * clear error on a user's mistake.
 */
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { neon, neonConfig } from "@neondatabase/serverless";
import { NomnomClient, NomnomError } from "nomnom-edge/client";
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { LOCAL_CONNECTION_STRING } from "../../scripts/local-neon/start.ts";
// Typed by the test project's entities (test/project), not the user's.
import type { Records as TestRecords } from "../project/src/generated/client-entities.js";
import { type DevStack, startDevStack } from "../support/dev-stack.ts";
import { faultAt } from "../support/faults.ts";
import { freePort } from "../support/free-port.ts";

let stack: DevStack;
const sql = neon(LOCAL_CONNECTION_STRING);
const rowsLike = async (prefix: string) => Number((await sql.query("SELECT count(*) AS n FROM customers WHERE customer_key LIKE $1", [`${prefix}%`]))[0].n);
const customer = (key: string) => ({ customer_key: key, name: "Ann", account_balance: "1.00" });

/** A fetch that records each request's method, path and answer status: what the client really sent. */
function recordingFetch() {
  const calls: { method: string; path: string; key: string | null; status: number | "network error" }[] = [];
  const fetcher: typeof fetch = async (input, init) => {
    const key = new Headers(init?.headers).get("idempotency-key");
    const call = { method: init?.method ?? "GET", path: new URL(String(input)).pathname, key, status: "network error" as number | "network error" };
    calls.push(call);
    const response = await fetch(input, init);
    call.status = response.status;
    return response;
  };
  return { calls, fetcher };
}

beforeAll(async () => {
  // The server answers a database failure at once (no retry of its own, no queue), so the client's retries are what is tested.
  stack = await startDevStack({
    port: await freePort(),
    neonPort: await freePort(),
    database: "nomnom_test_client",
    env: { LOCAL_NEON_FAULTS: "1", DB_RETRY_MS: "0", ASYNC_FALLBACK: "false" },
  });
  neonConfig.fetchEndpoint = stack.neonUrl;
}, 120_000);
afterAll(() => stack?.stop());

describe("NomnomClient batching", () => {
  it("turns 10,000 send() calls and one close() into 10,000 rows in at most 25 HTTP requests", async () => {
    const { calls, fetcher } = recordingFetch();
    const client = new NomnomClient<TestRecords>({ url: stack.base, fetch: fetcher });
    for (let i = 0; i < 10_000; i++) client.send("Customer", customer(`batch-${i}`));
    const counts = await client.close();
    expect(counts).toMatchObject({ sent: 10_000, inserted: 10_000, duplicates: 0, rejected: 0, undelivered: 0 });
    expect(await rowsLike("batch-")).toBe(10_000);
    expect(calls.length).toBeLessThanOrEqual(25);
    // One GET /health (the url is the service; its entity names), then 20 batches of 500.
    expect(calls.map((c) => `${c.method} ${c.path}`)).toEqual(["GET /health", ...Array(20).fill("POST /ingest/batch")]);
    expect(counts.requests).toBe(calls.length);
  });

  it("still writes exactly 10,000 rows when the database fails its first two calls: retried with the same Idempotency-Key", async () => {
    const { calls, fetcher } = recordingFetch();
    const client = new NomnomClient<TestRecords>({ url: stack.base, fetch: fetcher });
    await faultAt(stack.neonUrl, "500", { times: 2 });
    for (let i = 0; i < 10_000; i++) client.send("Customer", customer(`fault-${i}`));
    const counts = await client.close();
    await faultAt(stack.neonUrl, "none");
    expect(await rowsLike("fault-")).toBe(10_000);
    expect(counts).toMatchObject({ sent: 10_000, inserted: 10_000, undelivered: 0 });
    // The failures reached the client as 503s; each failed batch was sent again with its key, and succeeded.
    const failed = calls.filter((c) => c.path === "/ingest/batch" && c.status === 503);
    expect(failed.length).toBeGreaterThanOrEqual(1);
    for (const { key } of failed) expect(calls.filter((c) => c.key === key).map((c) => c.status)).toContain(200);
    expect(new Set(calls.filter((c) => c.status === 200 && c.path === "/ingest/batch").map((c) => c.key)).size).toBe(20);
  });

  it("sends a partial batch flushIntervalMs after its first record, without flush()", async () => {
    const client = new NomnomClient<TestRecords>({ url: stack.base, flushIntervalMs: 300 });
    for (let i = 0; i < 3; i++) client.send("Customer", customer(`interval-${i}`));
    expect(client.counts.sent).toBe(0);
    const deadline = Date.now() + 10_000;
    while (client.counts.sent < 3 && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(client.counts).toMatchObject({ sent: 3, inserted: 3 });
    expect(await rowsLike("interval-")).toBe(3);
  });

  it("reports a rejected record with the server's reason, and writes the rest of its batch", async () => {
    const rejected: [unknown, { message: string; field?: string }][] = [];
    const client = new NomnomClient<TestRecords>({ url: stack.base, onRejected: (record, error) => rejected.push([record, error]) });
    client.send("Customer", customer("mixed-1"));
    // @ts-expect-error a decimal field given a boolean: what a JavaScript caller can still send.
    client.send("Customer", { ...customer("mixed-2"), account_balance: true });
    client.send("Customer", customer("mixed-3"));
    expect(await client.flush()).toMatchObject({ sent: 3, inserted: 2, rejected: 1 });
    expect(rejected).toHaveLength(1);
    expect(rejected[0][0]).toMatchObject({ customer_key: "mixed-2" });
    expect(rejected[0][1].message).toMatch(/account_balance/);
    expect(await rowsLike("mixed-")).toBe(2);
  });
});

describe("NomnomClient on a user's mistake: one clear error, never an unhandled rejection", () => {
  it("a wrong URL (nothing listens): flush() rejects with unreachable, at once", async () => {
    const port = await freePort();
    const client = new NomnomClient<TestRecords>({ url: `http://127.0.0.1:${port}` });
    client.send("Customer", customer("nowhere-1"));
    const started = Date.now();
    const error = await client.flush().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NomnomError);
    expect(error).toMatchObject({ code: "unreachable", message: `cannot reach http://127.0.0.1:${port}: ECONNREFUSED` });
    expect(Date.now() - started).toBeLessThan(5_000);
    expect(() => client.send("Customer", customer("nowhere-2"))).toThrow(error as Error);
    expect(client.counts.undelivered).toBe(1);
  });

  it("a URL that is not a nomnom-edge service: says so", async () => {
    const client = new NomnomClient<TestRecords>({ url: `${stack.base}/no/such/prefix` });
    client.send("Customer", customer("elsewhere-1"));
    await expect(client.close()).rejects.toMatchObject({ code: "not_nomnom", message: expect.stringMatching(/is not a nomnom-edge service/) });
  });

  it("a malformed URL: the constructor throws", () => {
    expect(() => new NomnomClient<TestRecords>({ url: "localhost 8080" })).toThrow(/url must be an http:\/\/ or https:\/\/ URL/);
  });

  it("a wrong key: 401 unauthorized, once, with the server's words", async () => {
    const onError = vi.fn();
    const client = new NomnomClient<TestRecords>({ url: stack.base, key: "not-a-key", onError });
    for (let i = 0; i < 1200; i++) client.send("Customer", customer(`key-${i}`));
    const error = await client.close().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "unauthorized", status: 401, message: expect.stringMatching(/API key is not valid.*check the key/) });
    expect(onError).toHaveBeenCalledTimes(1);
    expect(await rowsLike("key-")).toBe(0);
  });

  it("a wrong entity name: one error naming the service's entities; once known, send() throws it at once", async () => {
    const client = new NomnomClient<TestRecords>({ url: stack.base });
    // @ts-expect-error not an entity of this registry
    client.send("Custmer", customer("typo-1"));
    const error = await client.flush().catch((e: unknown) => e);
    expect(error).toMatchObject({ code: "unknown_entity", message: 'unknown entity "Custmer": this service has Customer, Order, OrderLineItem, Product' });

    const known = new NomnomClient<TestRecords>({ url: stack.base });
    known.send("Customer", customer("typo-2"));
    await known.flush();
    // @ts-expect-error not an entity of this registry
    expect(() => known.send("Custmer", customer("typo-3"))).toThrow('unknown entity "Custmer"');
    expect(await known.close()).toMatchObject({ inserted: 1 });
  });
});

describe("NomnomClient memory bound", () => {
  it("whenFull: throw refuses a record past maxQueue; whenFull: wait resolves once there is room", async () => {
    const strict = new NomnomClient<TestRecords>({ url: stack.base, flushAt: 2, maxQueue: 2, whenFull: "throw" });
    strict.send("Customer", customer("bound-1"));
    strict.send("Customer", customer("bound-2"));
    expect(() => strict.send("Customer", customer("bound-3"))).toThrow(expect.objectContaining({ code: "queue_full" }));
    await strict.close();

    const patient = new NomnomClient<TestRecords>({ url: stack.base, flushAt: 2, maxQueue: 2 });
    patient.send("Customer", customer("bound-4"));
    patient.send("Customer", customer("bound-5"));
    const waited = patient.send("Customer", customer("bound-6"));
    expect(waited).toBeInstanceOf(Promise);
    await waited;
    expect(await patient.close()).toMatchObject({ sent: 3, inserted: 3 });
    expect(await rowsLike("bound-")).toBe(5);
  });
});

describe("client.stream", () => {
  it("streams records from an async iterable, gzip-compressed, and yields progress while the upload goes on", async () => {
    let produced = 0;
    let progressBeforeEnd = false;
    async function* records() {
      for (let i = 0; i < 30_000; i++) {
        produced++;
        yield customer(`stream-${i}`);
        // Slow enough that the server commits a flush (1 s) before the upload ends.
        if (i % 1000 === 999) await new Promise((resolve) => setTimeout(resolve, 100));
      }
    }
    const client = new NomnomClient<TestRecords>({ url: stack.base });
    const events = [];
    for await (const event of client.stream("Customer", records())) {
      if (event.event === "progress" && produced < 30_000) progressBeforeEnd = true;
      events.push(event);
    }
    expect(events.at(-1)).toMatchObject({ event: "summary", data: { status: "success", total: 30_000, inserted: 30_000 } });
    expect(progressBeforeEnd).toBe(true);
    expect(await rowsLike("stream-")).toBe(30_000);
  });

  it("sends a gzip file as it is (recognised by its first bytes), and a Blob compressed", async () => {
    const dir = mkdtempSync(join(tmpdir(), "client-stream-"));
    const lines = Array.from({ length: 500 }, (_, i) => `C|gz-${i}|Ann|x|1|5|1.00|A|b`);
    const file = join(dir, "lines.txt.gz");
    writeFileSync(file, gzipSync(`${lines.join("\n")}\n`));
    const client = new NomnomClient<TestRecords>({ url: stack.base });
    const fromFile = [];
    for await (const event of client.stream(null, file, { format: "text" })) fromFile.push(event);
    expect(fromFile.at(-1)).toMatchObject({ event: "summary", data: { total: 500, inserted: 500, failed: 0 } });

    const blob = new Blob([lines.map((line) => line.replace("gz-", "blob-")).join("\n")]);
    const fromBlob = [];
    for await (const event of client.stream(null, blob, { format: "text" })) fromBlob.push(event);
    expect(fromBlob.at(-1)).toMatchObject({ event: "summary", data: { total: 500, inserted: 500, failed: 0 } });
    expect(await rowsLike("gz-")).toBe(500);
    expect(await rowsLike("blob-")).toBe(500);
  });

  it("yields the rejected lines and a summary that counts them; a wrong key throws one NomnomError", async () => {
    const client = new NomnomClient<TestRecords>({ url: stack.base });
    const events = [];
    for await (const event of client.stream(null, ["C|sr-1|Ann|x|1|5|1.00|A|b", "C|sr-2", "NOPE|x"], { format: "text" })) events.push(event);
    expect(events.filter((e) => e.event === "rejected").map((e) => e.data.line_number)).toEqual([2, 3]);
    expect(events.at(-1)).toMatchObject({ event: "summary", data: { status: "partial", inserted: 1, failed: 2 } });

    const wrongKey = new NomnomClient<TestRecords>({ url: stack.base, key: "not-a-key" });
    const consume = async () => {
      for await (const _ of wrongKey.stream("Customer", [customer("sr-3")]));
    };
    await expect(consume()).rejects.toMatchObject({ name: "NomnomError", code: "unauthorized", status: 401 });
  });
});
