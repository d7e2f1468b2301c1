/**
 * nomnom-edge/client inside workerd, as a Worker would use it (CompressionStream, crypto.randomUUID,
 * timers, streamed request bodies), talking to this Worker through SELF.fetch.
 */
import { SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { NomnomClient } from "../../client/index.mjs";
import { count, resetDatabase } from "../support/worker.ts";

beforeEach(resetDatabase);

const client = () => new NomnomClient({ url: "http://nomnom.test", fetch: (input, init) => SELF.fetch(input, init) });
const customer = (key: string) => ({ customer_key: key, name: "Ann", account_balance: "1.00" });

describe("nomnom-edge/client in a Worker", () => {
  it("batches 1,200 records into 3 gzip batches (and one GET /health)", async () => {
    const c = client();
    for (let i = 0; i < 1200; i++) c.send("Customer", customer(`w-${i}`));
    expect(await c.close()).toMatchObject({ sent: 1200, inserted: 1200, rejected: 0, requests: 4 });
    expect(await count("customers")).toBe(1200);
  });

  it("streams an iterable of records to /ingest/stream and yields its events", async () => {
    const events = [];
    for await (const event of client().stream(
      "Customer",
      Array.from({ length: 300 }, (_, i) => customer(`ws-${i}`)),
    ))
      events.push(event);
    expect(events.at(-1)).toMatchObject({ event: "summary", data: { status: "success", total: 300, inserted: 300 } });
    expect(await count("customers")).toBe(300);
  });
});
