/** Resource bounds: silent uploads are ended, and open streams per API key are capped. */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { readEvents } from "../support/sse.ts";
import { apiKeys, count, resetDatabase } from "../support/worker.ts";

/** A body that sends `text`, then nothing, until the test (or the Worker) ends it. */
function stalled(text: string) {
  let controller!: ReadableStreamDefaultController<Uint8Array>;
  const body = new ReadableStream<Uint8Array>({
    start(c) {
      controller = c;
      c.enqueue(new TextEncoder().encode(text));
    },
  });
  return { body, end: () => controller.close() };
}

/** Straight to the Worker with these bindings; the answer comes back while a stalled body is still open. */
const postDirect = (path: string, body: BodyInit, bindings: object, headers: Record<string, string> = {}) =>
  worker.fetch(
    new Request(`http://nomnom.test${path}`, { method: "POST", body, headers: { "Content-Type": "text/plain", ...headers }, duplex: "half" } as RequestInit),
    bindings as typeof env,
  );

beforeEach(resetDatabase);

describe("a client that stops sending", () => {
  const quick = { ...env, BODY_IDLE_TIMEOUT_MS: "300" };

  it("gets a failure event on a stream, with what was committed, once BODY_IDLE_TIMEOUT_MS passes without a byte", async () => {
    const started = Date.now();
    const res = await postDirect("/ingest/stream", stalled("C|S1|A|x|1|5|1.00|A|b\n").body, quick);
    const events = await readEvents(res.body!);
    expect(events.at(-1)).toMatchObject({
      event: "failure",
      data: {
        status: "error",
        http_status: 408,
        code: "request_timeout",
        message: expect.stringContaining("BODY_IDLE_TIMEOUT_MS"),
        committed: { processed: expect.any(Number) },
      },
    });
    expect(Date.now() - started).toBeLessThan(5000);
  });

  it("gets 408 on a batch and on a message whose body stops short of its Content-Length", async () => {
    const batch = await postDirect("/ingest/batch", stalled("C|S2|A|x|1|5|1.00|A|b\n").body, quick);
    expect(batch.status).toBe(408);
    expect(await batch.json()).toMatchObject({ status: "error", code: "request_timeout" });
    const message = await postDirect("/ingest/message", stalled("C|S3|A|x|").body, quick, { "Content-Length": "1000" });
    expect(message.status).toBe(408);
    expect(await count("customers")).toBe(0);
  });
});

describe("open streams per API key", () => {
  it("are capped by MAX_STREAMS_PER_KEY across requests (429), and a slot frees when its stream ends", async () => {
    const keyed = {
      ...env,
      ALLOW_ANONYMOUS: "false",
      API_KEYS: await apiKeys({ a: ["nn_streamer", ["write:*"]], b: ["nn_other", ["write:*"]] }),
      MAX_STREAMS_PER_KEY: "1",
    };
    const auth = (key: string) => ({ Authorization: `Bearer ${key}` });
    const first = stalled("C|T1|A|x|1|5|1.00|A|b\n");
    const open = await postDirect("/ingest/stream", first.body, keyed, auth("nn_streamer"));
    expect(open.status).toBe(200);

    // Refused before its body is read: this one never ends.
    const refused = await postDirect("/ingest/stream", stalled("C|T2|A|x|1|5|1.00|A|b\n").body, keyed, auth("nn_streamer"));
    expect(refused.status).toBe(429);
    expect(refused.headers.get("retry-after")).toBe("2");
    expect(await refused.json()).toMatchObject({ code: "rate_limited", limit_streams: 1, message: expect.stringContaining("MAX_STREAMS_PER_KEY") });
    // Another key has slots of its own.
    const other = await postDirect("/ingest/stream", "C|T3|A|x|1|5|1.00|A|b\n", keyed, auth("nn_other"));
    expect((await readEvents(other.body!)).at(-1)).toMatchObject({ event: "summary", data: { inserted: 1 } });

    first.end();
    expect((await readEvents(open.body!)).at(-1)).toMatchObject({ event: "summary", data: { inserted: 1 } });
    const again = await postDirect("/ingest/stream", "C|T4|A|x|1|5|1.00|A|b\n", keyed, auth("nn_streamer"));
    expect((await readEvents(again.body!)).at(-1)).toMatchObject({ event: "summary", data: { inserted: 1 } });
  });
});

describe("one request's parsing does not hold the isolate's other answers", () => {
  const BULK = "bulk-key-00000000000001";
  const SINGLE = "single-key-000000000001";
  // Every record fails validation (account_balance), so the batch writes nothing: its answer comes
  // as soon as its parse ends, and a message answered before it was answered while it was parsed.
  // Order, not a time bound: the machine running the tests may be slow.
  it("another key's single message is answered while a 16 MiB JSON batch is still being parsed", async () => {
    const record = (i: number) =>
      JSON.stringify({
        customer_key: `F${String(i).padStart(7, "0")}`,
        name: "Customer",
        address: "1 Elm St",
        nation_key: 3,
        phone: "13-555-0001",
        account_balance: "not a number",
        market_segment: "BUILDING",
        comment: "a record of about one hundred and seventy bytes, parsed and refused",
      });
    const per = record(0).length + 1;
    const items = Math.floor((16 * 1024 * 1024 - 2) / per);
    const document = new TextEncoder().encode(`[${Array.from({ length: items }, (_, i) => record(i)).join(",")}]`);
    expect(document.length).toBeGreaterThan(15.9 * 1024 * 1024);
    expect(document.length).toBeLessThanOrEqual(16 * 1024 * 1024);

    const bindings = {
      ...env,
      ALLOW_ANONYMOUS: "false",
      API_KEYS: await apiKeys({ bulk: [BULK, ["write:*"]], single: [SINGLE, ["write:*"]] }),
      MAX_BATCH_ITEMS: String(items),
      QUARANTINE_MAX_PER_REQUEST: "1",
    };
    const order: string[] = [];
    let read = 0;
    const body = new ReadableStream<Uint8Array>(
      {
        pull(c) {
          if (read >= document.length) {
            order.push("batch body read");
            return c.close();
          }
          c.enqueue(document.subarray(read, read + 1024 * 1024));
          read += 1024 * 1024;
        },
      },
      { highWaterMark: 0 },
    );
    const batch = Promise.resolve(postDirect("/ingest/batch", body, bindings, { "Content-Type": "application/json", Authorization: `Bearer ${BULK}` })).then(
      async (res) => {
        order.push("batch answered");
        return { status: res.status, body: (await res.json()) as { failed: number } };
      },
    );
    // The message leaves once the batch's whole body is read, that is when its parse begins.
    let settled = false;
    void batch.finally(() => (settled = true));
    while (!order.includes("batch body read") && !settled) await new Promise((r) => setTimeout(r, 1));
    const message = await postDirect("/ingest/message", "C|FAIR1|Name|x|1|5|1.00|A|b", bindings, { Authorization: `Bearer ${SINGLE}` });
    order.push("message answered");

    expect(message.status).toBe(200);
    const answer = await batch;
    expect(answer).toMatchObject({ status: 400, body: { failed: items } });
    expect(order).toEqual(["batch body read", "message answered", "batch answered"]);
    expect(await count("customers")).toBe(1);
  }, 60_000);
});
