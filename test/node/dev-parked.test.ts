/**
 * Under `npm run dev`: a queued part that outlasts its attempts is parked, and the script's
 * every-minute re-drive (wrangler dev fires no Cron Trigger itself) writes it within a minute of
 * the database's recovery, rejections included.
 */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { customers } from "../support/customers.ts";
import { type DevStack, startDevStack } from "../support/dev-stack.ts";
import { faultAt } from "../support/faults.ts";
import { freePort } from "../support/free-port.ts";

type Receipt = { status: string; inserted: number; parts_parked?: number; problems: { status?: string }[] };

describe("npm run dev: parked queue parts", () => {
  let stack: DevStack;

  beforeAll(async () => {
    stack = await startDevStack({
      port: await freePort(),
      neonPort: await freePort(),
      database: "nomnom_test_dev_parked",
      env: { LOCAL_NEON_FAULTS: "1", QUEUE_RETRY_DELAY_S: "1", QUEUE_MAX_RETRIES: "2" },
    });
  });

  afterAll(() => stack.stop());

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
});
