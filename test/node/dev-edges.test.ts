/**
 * Under `npm run dev`, over raw sockets where a client's behaviour matters: a queued part that
 * outlasts its attempts is parked, and the script's every-minute re-drive (wrangler dev fires no
 * Cron Trigger itself) writes it within a minute of the database's recovery, rejections included;
 * a connection reset mid-line stores no cut-off line; a stream past MAX_STREAMS_PER_KEY is
 * answered 429 while its body is still arriving.
 */
import { connect, type Socket } from "node:net";
import { gzipSync } from "node:zlib";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { customerRecord, customers } from "../support/customers.ts";
import { type DevStack, startDevStack } from "../support/dev-stack.ts";
import { faultAt } from "../support/faults.ts";
import { freePort } from "../support/free-port.ts";

type Receipt = { status: string; inserted: number; parts_parked?: number; problems: { status?: string }[] };

describe("npm run dev: parked queue parts, cut-off bodies, stream slots", () => {
  let stack: DevStack;

  beforeAll(async () => {
    stack = await startDevStack({
      port: await freePort(),
      neonPort: await freePort(),
      database: "nomnom_test_dev_parked",
      env: { LOCAL_NEON_FAULTS: "1", QUEUE_RETRY_DELAY_S: "1", QUEUE_MAX_RETRIES: "2", MAX_STREAMS_PER_KEY: "1" },
    });
  });

  afterAll(() => stack.stop());
  // A test that fails mid-outage must not leave the database down for the next.
  afterEach(() => faultAt(stack.neonUrl, "none"));

  const receiptOf = async (id: string) => (await (await fetch(`${stack.base}/ingest/receipts/${id}`)).json()) as Receipt;
  async function until(id: string, done: (r: Receipt) => boolean, ms: number): Promise<Receipt> {
    const deadline = Date.now() + ms;
    for (;;) {
      const receipt = await receiptOf(id);
      if (done(receipt) || Date.now() > deadline) return receipt;
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  it("parks an async batch during an outage and writes it, with its rejected lines, within a minute of recovery", async () => {
    await faultAt(stack.neonUrl, "down");
    const res = await fetch(`${stack.base}/ingest/batch?mode=async`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: `${customers("P", 4)}\nX|bad`,
    });
    expect(res.status).toBe(202);
    const { ingest_id, request_id } = (await res.json()) as { ingest_id: string; request_id: string };
    const parked = await until(ingest_id, (r) => r.status === "parked" && r.parts_parked === 2, 60_000);
    expect(parked).toMatchObject({ status: "parked", parts_parked: 2, inserted: 0 });
    expect(parked.problems.every((p) => p.status === "parked")).toBe(true);

    await faultAt(stack.neonUrl, "none");
    const recovered = Date.now();
    const done = await until(ingest_id, (r) => r.status === "done", 70_000);
    expect(done).toMatchObject({ status: "done", inserted: 4, parts_parked: 0 });
    expect(Date.now() - recovered).toBeLessThan(60_000);
    const rejections = (await (await fetch(`${stack.base}/ingest/rejections?request_id=${request_id}`)).json()) as { rejections: { raw: string }[] };
    expect(rejections.rejections.map((r) => r.raw)).toEqual(["X|bad"]);
  }, 180_000);

  /** Opens a raw connection to the stack and sends `head`; resolves once connected. */
  async function raw(head: string): Promise<{ socket: Socket; answer: () => string }> {
    const port = Number(new URL(stack.base).port);
    let answer = "";
    const socket = await new Promise<Socket>((resolve) => {
      const s = connect(port, "127.0.0.1", () => resolve(s));
    });
    socket.on("data", (d) => (answer += d));
    socket.on("error", () => {});
    socket.write(head);
    return { socket, answer: () => answer };
  }

  const customer = (key: string, comment: string) => `C|${key}|Name|x|1|5|1.00|A|${comment}`;
  const customerJson = (key: string, comment: string) => JSON.stringify({ entity: "Customer", ...customerRecord(key, { comment }) });
  const formats = {
    pipe: { type: "text/plain", one: "text/plain", line: customer },
    NDJSON: { type: "application/x-ndjson", one: "application/json", line: customerJson },
  };
  const chunk = (bytes: Buffer) => Buffer.concat([Buffer.from(`${bytes.length.toString(16)}\r\n`), bytes, Buffer.from("\r\n")]);

  /**
   * Reset connections that `wrangler dev` hands on as failed bodies (see docs/reliability.md): a body
   * short of its Content-Length; a chunked body whose answer has not begun (a batch answers at the
   * end); a chunked gzip body (its missing trailer fails the inflation). Each sends three whole lines
   * and half a fourth, then resets.
   */
  const resets = [
    { route: "stream", framing: "Content-Length" },
    { route: "batch", framing: "chunked" },
    { route: "stream", framing: "chunked gzip" },
  ] as const;
  for (const { route, framing } of resets) {
    for (const [name, format] of Object.entries(formats)) {
      it(`stores no cut-off line when a ${framing} ${name} body to /ingest/${route} is reset mid-line`, async () => {
        const key = `RST${route[0]}${framing.length}${name[0]}`;
        const half = format.line(`${key}CUT`, "this comment was cut here and goes on").slice(0, -14);
        const text = Buffer.from(`${[1, 2, 3].map((i) => format.line(`${key}${i}`, "whole")).join("\n")}\n${half}`);
        const head = `POST /ingest/${route} HTTP/1.1\r\nHost: x\r\nContent-Type: ${format.type}\r\n`;
        const { socket } = await raw(
          framing === "Content-Length"
            ? `${head}Content-Length: ${text.length + 20}\r\n\r\n`
            : `${head}Transfer-Encoding: chunked\r\n${framing === "chunked gzip" ? "Content-Encoding: gzip\r\n" : ""}\r\n`,
        );
        // A gzip body cut before its 8-byte trailer: all of the text inflates, the end does not check.
        const gz = gzipSync(text);
        socket.write(framing === "Content-Length" ? text : chunk(framing === "chunked" ? text : gz.subarray(0, gz.length - 8)));
        await new Promise((r) => setTimeout(r, 500));
        socket.resetAndDestroy();
        await new Promise((r) => setTimeout(r, 1500));
        // Neither a row nor a rejected line holds the cut key, and the whole line sent again is new.
        const rejected = (await (await fetch(`${stack.base}/ingest/rejections?limit=1000`)).json()) as { rejections: { raw: string }[] };
        expect(rejected.rejections.filter((r) => r.raw.includes(`${key}CUT`))).toEqual([]);
        const again = await fetch(`${stack.base}/ingest/message`, {
          method: "POST",
          headers: { "Content-Type": format.one },
          body: format.line(`${key}CUT`, "this comment was cut here and goes on"),
        });
        const answer = (await again.json()) as { status: string; duplicate?: boolean };
        expect(answer.status).toBe("success");
        expect(answer.duplicate).toBeUndefined();
      });
    }
  }

  it("answers a stream past MAX_STREAMS_PER_KEY with 429 and Retry-After while its body is still arriving", async () => {
    const head = `POST /ingest/stream HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n`;
    const first = await raw(head + chunk(Buffer.from(`${customer("SLOT1", "open")}\n`)));
    const deadline = Date.now() + 10_000;
    while (!first.answer().includes("200 OK") && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(first.answer()).toContain("200 OK");
    const second = await raw(head + chunk(Buffer.from(`${customer("SLOT2", "refused")}\n`)));
    const started = Date.now();
    while (!second.answer().includes("\r\n\r\n") && Date.now() - started < 5000) await new Promise((r) => setTimeout(r, 50));
    expect(second.answer()).toMatch(/^HTTP\/1\.1 429 /);
    expect(second.answer()).toMatch(/\r\nretry-after: 2\r\n/i);
    first.socket.destroy();
    second.socket.destroy();
  });
});
