import { createExecutionContext, env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import worker from "../../src/index.ts";
import { readEvents } from "../support/sse.ts";
import { tpchLines } from "../support/tpch.ts";
import { count, post, resetDatabase, sql } from "../support/worker.ts";

beforeEach(resetDatabase);

const gzip = (text: string) => new Response(new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"))).arrayBuffer();

async function tableDump() {
  return sql.query("SELECT order_key, total_price::text, order_date::text FROM orders ORDER BY order_key");
}

describe("POST /ingest/stream", () => {
  it("answers with SSE: rejected lines, progress per committed flush, and a summary that accounts for every line", async () => {
    const lines = tpchLines(30_000, 3);
    lines[10] = "O|broken";
    lines[20_000] = "Q|unknown";
    const res = await post("/ingest/stream", lines.join("\n"), "text/plain");
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const events = await readEvents(res.body!);
    expect(events.filter((e) => e.event === "rejected").map((e) => e.data.line_number)).toEqual([11, 20_001]);
    const progress = events.filter((e) => e.event === "progress");
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.map((e) => e.data.processed)).toEqual([...progress.map((e) => e.data.processed)].sort((a, b) => a - b));
    const summary = events.at(-1)!;
    expect(summary).toMatchObject({ event: "summary", data: { status: "partial", total: 30_000, inserted: 29_998, duplicates: 0, failed: 2 } });
    expect(summary.data.inserted + summary.data.duplicates + summary.data.failed).toBe(lines.length);
    const rows = (await count("orders")) + (await count("order_line_items")) + (await count("customers")) + (await count("products"));
    expect(rows).toBe(29_998);
  });

  it("sends a progress event per line with ?progress=line", async () => {
    const res = await post("/ingest/stream?progress=line", "C|C1|A|x|1|5|1.00|A|b\nC|C2|B|x|1|5|1.00|A|b\nC|C3|C|x|1|5|1.00|A|b\n", "text/plain");
    const events = await readEvents(res.body!);
    expect(events.filter((e) => e.event === "progress" && e.data.line_number).map((e) => e.data.line_number)).toEqual([1, 2, 3]);
    expect(events.at(-1)).toMatchObject({ event: "summary", data: { total: 3, inserted: 3 } });
  });

  it("writes the same rows from pipe lines, NDJSON and gzip", async () => {
    const lines = ["O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#1|0|a", "O|2|101|F|0.10|1996-02-29"];
    const ndjson = [
      {
        order_key: "1",
        customer_key: "100",
        order_status: "O",
        total_price: 123.45,
        order_date: "1996-01-02",
        order_priority: "5-LOW",
        clerk: "Clerk#1",
        ship_priority: 0,
        comment: "a",
      },
      { order_key: "2", customer_key: "101", order_status: "F", total_price: "0.10", order_date: "1996-02-29" },
    ]
      .map((r) => JSON.stringify(r))
      .join("\n");

    await readEvents((await post("/ingest/stream", lines.join("\n"), "text/plain")).body!);
    const fromText = await tableDump();
    await resetDatabase();
    await readEvents((await post("/ingest/stream", ndjson, "application/x-ndjson")).body!);
    expect(await tableDump()).toEqual(fromText);
    await resetDatabase();
    await readEvents((await post("/ingest/stream", await gzip(lines.join("\n")), "text/plain", { "Content-Encoding": "gzip" })).body!);
    expect(await tableDump()).toEqual(fromText);
    await resetDatabase();
    const batch = await post("/ingest/batch", await gzip(ndjson), "application/x-ndjson", { "Content-Encoding": "gzip" });
    expect(await batch.json()).toMatchObject({ inserted: 2 });
    expect(await tableDump()).toEqual(fromText);
    expect(fromText).toHaveLength(2);
  });

  it("takes deflate (zlib) bodies too", async () => {
    const deflated = await new Response(
      new Blob(["C|C1|A|x|1|5|1.00|A|b\nC|C2|B|x|1|5|1.00|A|b\n"]).stream().pipeThrough(new CompressionStream("deflate")),
    ).arrayBuffer();
    const res = await post("/ingest/batch", deflated, "text/plain", { "Content-Encoding": "deflate" });
    expect(await res.json()).toMatchObject({ status: "success", inserted: 2 });
  });

  it("reports a truncated gzip body: 400 on /ingest/batch, a failure event on /ingest/stream", async () => {
    const truncated = (await gzip("C|C1|A|x|1|5|1.00|A|b\n".repeat(100))).slice(0, 40);
    const batch = await post("/ingest/batch", truncated, "text/plain", { "Content-Encoding": "gzip" });
    expect(batch.status).toBe(400);
    expect(await batch.json()).toMatchObject({ status: "error", message: expect.stringMatching(/^the gzip body is corrupt or truncated/) });
    const events = await readEvents((await post("/ingest/stream", truncated, "text/plain", { "Content-Encoding": "gzip" })).body!);
    expect(events.at(-1)).toMatchObject({
      event: "failure",
      data: { status: "error", http_status: 400, message: expect.stringMatching(/^the gzip body is corrupt/) },
    });
  });

  it("refuses an unknown Content-Encoding with 415 before streaming", async () => {
    const res = await post("/ingest/stream", "x", "text/plain", { "Content-Encoding": "br" });
    expect(res.status).toBe(415);
    expect(await res.json()).toMatchObject({ message: "Content-Encoding br is not accepted: use gzip, deflate or none" });
  });
});

describe("a stream that fails part-way", () => {
  it("writes nothing after the failure and reports exactly what the database holds", async () => {
    const body = Array.from({ length: 4000 }, (_, i) => `C|F${i}|Name|x|1|5|1.00|A|b`).join("\n");
    const res = await worker.fetch(new Request("http://nomnom.test/ingest/stream", { method: "POST", body, headers: { "Content-Type": "text/plain" } }), {
      ...env,
      MAX_BODY_BYTES: String(Math.floor(body.length / 2)),
    });
    const events = await readEvents(res.body!);
    const failure = events.at(-1)!;
    expect(failure).toMatchObject({ event: "failure", data: { status: "error", http_status: 413 } });
    // Rows parsed before the failure but not yet flushed must not be written by a later timer.
    await new Promise((r) => setTimeout(r, 1500));
    expect(await count("customers")).toBe(failure.data.committed.inserted);
  });
});

describe("byte order marks", () => {
  it("drops one at the start of a body", async () => {
    const res = await post("/ingest/batch", "\uFEFFC|C1|A|x|1|5|1.00|A|b\n", "text/plain");
    expect(await res.json()).toMatchObject({ status: "success", inserted: 1 });
  });
});

describe("size limits while streaming", () => {
  const limited = { ...env, MAX_BODY_BYTES: "2000", MAX_LINE_BYTES: "100" };
  const postLimited = (path: string, body: BodyInit, headers: Record<string, string> = {}) =>
    worker.fetch(new Request(`http://nomnom.test${path}`, { method: "POST", body, headers: { "Content-Type": "text/plain", ...headers } }), limited);

  it("answers 413 naming the limit when the decompressed body is too large (a gzip bomb stays small on the wire)", async () => {
    const bomb = await gzip("C|C1|A|x|1|5|1.00|A|b\n".repeat(1000));
    expect(bomb.byteLength).toBeLessThan(2000);
    const res = await postLimited("/ingest/batch", bomb, { "Content-Encoding": "gzip" });
    expect(res.status).toBe(413);
    expect(await res.json()).toMatchObject({
      message: expect.stringContaining("decompressed request body is larger than the limit of 2000 bytes"),
      limit_bytes: 2000,
    });
  });

  it("rejects an overlong line and keeps the lines around it", async () => {
    const res = await postLimited("/ingest/batch", `C|C1|A|x|1|5|1.00|A|b\nC|C2|${"x".repeat(300)}|x|1|5|1.00|A|b\nC|C3|A|x|1|5|1.00|A|b\n`);
    expect(res.status).toBe(207);
    expect(await res.json()).toMatchObject({
      inserted: 2,
      failed: 1,
      errors: [{ line_number: 2, message: "line is longer than the limit of 100 bytes (MAX_LINE_BYTES)" }],
    });
  });
});

describe("a body cut off part-way", () => {
  const whole = Array.from({ length: 50 }, (_, i) => `C|K${i}|Name|x|1|5|1.00|A|full comment`).join("\n");
  const half = "C|KCUT|Name|x|1|5|1.00|A|this comment was cut he";
  /** A body that sends `text`, then ends as `end` says: an error (a reset), or cleanly. */
  const bodyOf = (text: string, end: "error" | "close") =>
    new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(new TextEncoder().encode(text));
        if (end === "close") controller.close();
        else setTimeout(() => controller.error(new Error("Network connection lost.")), 50);
      },
    });
  const stream = (body: ReadableStream<Uint8Array>, headers: Record<string, string> = {}) =>
    worker.fetch(
      new Request("http://nomnom.test/ingest/stream", { method: "POST", body, headers: { "Content-Type": "text/plain", ...headers } }),
      env,
      createExecutionContext(),
    );

  it("writes no cut-off line when the body errors, and its failure event says so", async () => {
    const events = await readEvents((await stream(bodyOf(`${whole}\n${half}`, "error"))).body!);
    expect(events.at(-1)).toMatchObject({
      event: "failure",
      data: {
        status: "error",
        http_status: 499,
        code: "client_closed",
        message: expect.stringMatching(/the unterminated last line \(line 51\) was cut off and not written$/),
      },
    });
    await new Promise((r) => setTimeout(r, 500));
    expect(await sql.query("SELECT customer_key FROM customers WHERE customer_key = 'KCUT'")).toEqual([]);
  });

  it("writes no cut-off line when the body ends before its Content-Length", async () => {
    const text = `${whole}\n${half}`;
    const headers = { "Content-Length": String(new TextEncoder().encode(text).length + 40) };
    const events = await readEvents((await stream(bodyOf(text, "close"), headers)).body!);
    expect(events.at(-1)).toMatchObject({
      event: "failure",
      data: { code: "client_closed", message: expect.stringMatching(/ended after \d+ of the \d+ bytes its Content-Length announced.*line 51\) was cut off/) },
    });
    expect(await sql.query("SELECT customer_key FROM customers WHERE customer_key = 'KCUT'")).toEqual([]);
  });

  it("takes a body that ends cleanly without a final newline whole", async () => {
    const events = await readEvents((await stream(bodyOf(`${whole}\n${half}`, "close"))).body!);
    expect(events.at(-1)).toMatchObject({ event: "summary", data: { inserted: 51, failed: 0 } });
    expect(await count("customers")).toBe(51);
  });
});
