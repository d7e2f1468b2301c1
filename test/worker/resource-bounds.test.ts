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
