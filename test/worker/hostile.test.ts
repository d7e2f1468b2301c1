import { SELF } from "cloudflare:test";
import { beforeAll, describe, expect, it } from "vitest";
import { hostileCases } from "../support/hostile-corpus.ts";
import { resetDatabase, sql } from "../support/worker.ts";

const cases = hostileCases();

beforeAll(resetDatabase);

describe("the hostile-input corpus", () => {
  it("has at least 200 cases", () => {
    expect(cases.length).toBeGreaterThanOrEqual(200);
  });

  for (const c of cases) {
    it(`answers ${c.expect.join(" or ")} to ${c.name}, and loses nothing else`, async ({ task }) => {
      const res = await SELF.fetch(`http://nomnom.test${c.path}`, { method: c.method ?? "POST", headers: c.headers, body: c.body });
      // Read by test/support/summary-reporter.ts, which prints the corpus size and its 5xx count.
      task.meta.hostileStatus = res.status;
      const text = await res.text();
      expect(res.status, text.slice(0, 300)).toBeLessThan(500);
      expect(c.expect, `status ${res.status}: ${text.slice(0, 300)}`).toContain(res.status);
      if (res.status >= 400) expect(JSON.parse(text)).toMatchObject({ status: "error", message: expect.any(String) });
      if (c.validKey) expect(await sql.query("SELECT 1 FROM customers WHERE customer_key = $1", [c.validKey])).toHaveLength(1);
    });
  }

  it("kept the rejected lines as data: every one reads back as JSON, escaped", async () => {
    const res = await SELF.fetch("http://nomnom.test/ingest/rejections?format=ndjson");
    expect(res.status).toBe(200);
    const rejections = (await res.text())
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { raw: string });
    expect(rejections.length).toBeGreaterThan(100);
    for (const r of rejections) expect(r.raw).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it("left the tables and Object.prototype intact", async () => {
    expect(await sql.query("SELECT count(*)::int AS n FROM pg_tables WHERE tablename IN ('orders', 'order_line_items', 'customers', 'products')")).toEqual([
      { n: 4 },
    ]);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
  });
});
