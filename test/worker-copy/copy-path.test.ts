/**
 * Only in the worker-copy project: the bulk routes really write with COPY inside workerd (the local
 * WebSocket endpoint counts the COPY statements it passes on), and replays pay one failed COPY, then
 * go through a staging table (one more COPY each).
 */
import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { QuietWebSocket } from "../../src/db/copy-socket.ts";
import { customers } from "../support/customers.ts";
import { readEvents } from "../support/sse.ts";
import { call, count, resetDatabase } from "../support/worker.ts";

const copies = async () => ((await (await fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT))).json()) as { copies: number }).copies;

beforeEach(resetDatabase);

describe("the COPY writer inside workerd", () => {
  it("writes /ingest/batch with COPY, and a replay of the same lines through a staging table after one failed COPY", async () => {
    const before = await copies();
    const res = await call("/ingest/batch", { method: "POST", body: customers("A", 500) });
    expect(await res.json()).toMatchObject({ inserted: 500, duplicates: 0 });
    expect(await copies()).toBe(before + 1);
    const again = await call("/ingest/batch", { method: "POST", body: customers("A", 500) });
    expect(await again.json()).toMatchObject({ inserted: 0, duplicates: 500 });
    expect(await copies()).toBe(before + 3);
    // The isolate remembers the conflict: a second replay is staged at once, with no failed COPY.
    const third = await call("/ingest/batch", { method: "POST", body: customers("A", 500) });
    expect(await third.json()).toMatchObject({ inserted: 0, duplicates: 500 });
    expect(await copies()).toBe(before + 4);
    expect(await count("customers")).toBe(500);
  });

  it("writes /ingest/stream with COPY", async () => {
    // Products: the test above left customers remembered as conflicting in this isolate.
    const products = Array.from({ length: 300 }, (_, i) => `P|S${i}|part|M|B|T|1|BOX|1.00|c`).join("\n");
    const before = await copies();
    const res = await call("/ingest/stream", { method: "POST", body: products });
    expect((await readEvents(res.body!)).at(-1)).toMatchObject({ event: "summary", data: { inserted: 300 } });
    expect(await copies()).toBe(before + 1);
    expect(await count("products")).toBe(300);
  });

  it("drops what is sent on a closed WebSocket, where workerd's own send() throws", async () => {
    const closedSocket = async (Socket: typeof WebSocket) => {
      const ws = new Socket(`ws://${env.NEON_WS_PROXY}`);
      await new Promise((resolve, reject) => {
        ws.addEventListener("open", resolve);
        ws.addEventListener("error", reject);
      });
      ws.close();
      return ws;
    };
    // The library's coalesced write can come after the close: thrown from a timer, an uncaught exception.
    const plain = await closedSocket(WebSocket);
    expect(() => plain.send(new Uint8Array([0]))).toThrow(/after close/);
    const quiet = await closedSocket(QuietWebSocket);
    expect(() => quiet.send(new Uint8Array([0]))).not.toThrow();
  });
});
