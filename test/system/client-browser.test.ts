/**
 * nomnom-edge/client in a browser (headless Chromium): the module, unchanged, loaded by a page of the
 * service's own origin, batches records and streams a Blob, against `npm run dev`.
 */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { neon, neonConfig } from "@neondatabase/serverless";
import type { Browser } from "playwright-core";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING } from "../../scripts/local-neon/start.ts";
import { launchChromium } from "../support/chromium.ts";
import { type DevStack, root, startDevStack } from "../support/dev-stack.ts";
import { freePort } from "../support/free-port.ts";

let stack: DevStack;
let browser: Browser;
const sql = neon(LOCAL_CONNECTION_STRING);

beforeAll(async () => {
  stack = await startDevStack({ port: await freePort(), neonPort: await freePort(), database: "nomnom_test_client_browser" });
  neonConfig.fetchEndpoint = stack.neonUrl;
  browser = await launchChromium();
}, 120_000);
afterAll(async () => {
  await browser?.close();
  await stack?.stop();
});

describe("nomnom-edge/client in Chromium", () => {
  it("sends 1,200 records in batches, and streams a Blob, from a page of the service", async () => {
    const page = await browser.newPage();
    await page.goto(`${stack.base}/limits`);
    const source = readFileSync(join(root, "client/index.mjs"), "utf8");
    // The page imports the module as it is (a data: URL), then uses it as a web app would.
    const result = (await page.evaluate(`(async () => {
      const { NomnomClient } = await import("data:text/javascript;base64,${Buffer.from(source).toString("base64")}");
      const client = new NomnomClient({ url: location.origin });
      for (let i = 0; i < 1200; i++) client.send("Customer", { customer_key: "br-" + i, name: "Ann", account_balance: "1.00" });
      const counts = await client.close();
      const lines = Array.from({ length: 200 }, (_, i) => "C|bs-" + i + "|Ann|x|1|5|1.00|A|b").join("\\n");
      const events = [];
      for await (const event of client.stream(null, new Blob([lines]), { format: "text" })) events.push(event.event);
      return { counts, events };
    })()`)) as { counts: Record<string, number>; events: string[] };
    expect(result.counts).toMatchObject({ sent: 1200, inserted: 1200, rejected: 0, requests: 4 });
    expect(result.events.at(-1)).toBe("summary");
    const [row] = await sql.query("SELECT count(*)::int AS n FROM customers WHERE customer_key LIKE 'br-%' OR customer_key LIKE 'bs-%'");
    expect(row.n).toBe(1400);
  });
});
