/**
 * Limits before work: item counts are enforced while the body is read and parsed, so a body past
 * MAX_BATCH_ITEMS is refused at its 10,001st item. Each body here sends more than that and then
 * stalls without ending: only a refusal made while reading can answer it (otherwise the request
 * waits for the body's end, and gets the idle timeout's 408 instead).
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { readEvents } from "../support/sse.ts";
import { count, resetDatabase, sql } from "../support/worker.ts";

beforeEach(resetDatabase);

/** A body that sends `bytes`, then nothing more; never ends on its own. */
function stalled(bytes: Uint8Array): ReadableStream<Uint8Array> {
  return new ReadableStream<Uint8Array>({
    start(c) {
      c.enqueue(bytes);
    },
  });
}

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return new Uint8Array(await new Response(new Blob([bytes]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer());
}

const encode = (text: string) => new TextEncoder().encode(text);
/** The idle timeout a late refusal would run into. */
const settings = { ...env, BODY_IDLE_TIMEOUT_MS: "20000" };
const post = (path: string, body: ReadableStream<Uint8Array>, contentType: string, headers: Record<string, string> = {}) =>
  worker.fetch(
    new Request(`http://nomnom.test${path}`, { method: "POST", body, headers: { "Content-Type": contentType, ...headers }, duplex: "half" } as RequestInit),
    settings,
  );

const ITEMS = 12_000;
const bodies: [name: string, contentType: string, text: string][] = [
  ["a JSON array of zeros", "application/json", `[${"0,".repeat(ITEMS)}`],
  ["a JSON array of empty objects", "application/json", `[${"{},".repeat(ITEMS)}`],
  ["NDJSON", "application/x-ndjson", "{}\n".repeat(ITEMS)],
  ["pipe lines", "text/plain", "X|x\n".repeat(ITEMS)],
];

describe("a batch past MAX_BATCH_ITEMS is refused while it is read", () => {
  for (const [name, contentType, text] of bodies) {
    for (const compressed of [false, true]) {
      it(`${name}${compressed ? ", gzip" : ""}: 413 at the 10,001st item, before the body ends`, async () => {
        const started = Date.now();
        // Gzip: the compressed prefix of a much longer body (zeros compress ~1000:1), then a stall.
        const bytes = compressed ? (await gzip(encode(text.repeat(50)))).subarray(0, 8192) : encode(text);
        const res = await post("/ingest/batch", stalled(bytes), contentType, compressed ? { "Content-Encoding": "gzip" } : {});
        expect(res.status).toBe(413);
        expect(await res.json()).toMatchObject({ code: "body_too_large", limit_items: 10_000 });
        expect(Date.now() - started).toBeLessThan(5000);
        expect(await count("customers")).toBe(0);
      });
    }
  }

  it("a JSON document on /ingest/stream too (it is held whole): a failure event, 413, before the body ends", async () => {
    const res = await post("/ingest/stream", stalled(encode(`[${"{},".repeat(ITEMS)}`)), "application/json");
    const events = await readEvents(res.body!);
    expect(events.at(-1)).toMatchObject({
      event: "failure",
      data: { status: "error", http_status: 413, code: "body_too_large", message: expect.stringContaining("send its records as NDJSON to stream them") },
    });
  });

  describe("the issue's bombs, whole: a gzipped JSON array of millions of tiny elements (about 15 KB on the wire)", () => {
    /** The gzip bytes in 1 KB pieces, pulled one at a time; `pulled()` says how many bytes the Worker asked for. */
    function metered(bytes: Uint8Array) {
      let offset = 0;
      const stream = new ReadableStream<Uint8Array>(
        {
          pull(c) {
            if (offset >= bytes.length) return c.close();
            c.enqueue(bytes.slice(offset, offset + 1024));
            offset += 1024;
          },
        },
        { highWaterMark: 0 },
      );
      return { stream, pulled: () => offset };
    }

    it("8 million zeros to /ingest/batch: 413, refused before most of the body was read, nothing written", async () => {
      const bomb = await gzip(encode(`[${"0,".repeat(7_999_999)}0]`));
      expect(bomb.length).toBeLessThan(20_000);
      const body = metered(bomb);
      const res = await post("/ingest/batch", body.stream, "application/json", { "Content-Encoding": "gzip" });
      expect(res.status).toBe(413);
      expect(await res.json()).toMatchObject({ code: "body_too_large", limit_items: 10_000 });
      expect(body.pulled()).toBeLessThan(bomb.length / 2);
      expect(await count("customers")).toBe(0);
    });

    it("4 million {} to /ingest/stream: a failure event, 413, before most of the body was read, no rejected line stored", async () => {
      const bomb = await gzip(encode(`[${"{},".repeat(3_999_999)}{}]`));
      const body = metered(bomb);
      const res = await post("/ingest/stream", body.stream, "application/json", { "Content-Encoding": "gzip" });
      const events = await readEvents(res.body!);
      expect(events.at(-1)).toMatchObject({ event: "failure", data: { http_status: 413, code: "body_too_large", committed: { failed: 0 } } });
      expect(body.pulled()).toBeLessThan(bomb.length / 2);
      const [row] = await sql.query("SELECT count(*)::int AS n FROM ingest_rejections WHERE request_id = $1", [events.at(-1)!.data.request_id]);
      expect(row.n).toBe(0);
    });
  });

  it("a whole body of exactly MAX_BATCH_ITEMS items is still taken", async () => {
    const res = await worker.fetch(
      new Request("http://nomnom.test/ingest/batch", {
        method: "POST",
        body: `[${Array(5).fill('{"entity":"Customer"}').join(",")}]`,
        headers: { "Content-Type": "application/json" },
      }),
      { ...env, MAX_BATCH_ITEMS: "5" },
    );
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ failed: 5 });
  });
});

describe("a stream's rejected lines", () => {
  it("are kept up to QUARANTINE_MAX_PER_REQUEST (10,000 by default) a request; the rest are counted, not stored", async () => {
    const res = await worker.fetch(
      new Request("http://nomnom.test/ingest/stream", { method: "POST", body: "{}\n".repeat(10_005), headers: { "Content-Type": "application/x-ndjson" } }),
      env,
    );
    const events = await readEvents(res.body!);
    const summary = events.at(-1)!;
    expect(summary).toMatchObject({ event: "summary", data: { failed: 10_005, rejections_over_cap: 5 } });
    const [row] = await sql.query("SELECT count(*)::int AS n FROM ingest_rejections WHERE request_id = $1", [summary.data.request_id]);
    expect(row.n).toBe(10_000);
  });
});
