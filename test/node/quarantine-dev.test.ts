/**
 * The quarantine against a running `npm run dev`: a stream's rejected lines are kept when its
 * client goes away; `nomnom rejections list|show|replay` lists and shows a batch's rejected lines,
 * a dry run writes nothing, and a replay writes what now passes (the fix is made at run time: a
 * CHECK constraint that refused a row is dropped).
 */
import http from "node:http";
import { neon, neonConfig } from "@neondatabase/serverless";
import { createParser } from "eventsource-parser";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { LOCAL_CONNECTION_STRING } from "../../scripts/local-neon/start.ts";
import { type DevStack, startDevStack } from "../support/dev-stack.ts";
import { freePorts } from "../support/free-port.ts";
import { nomnom } from "../support/nomnom.ts";

const [PORT, NEON_PORT] = await freePorts(2);
const base = `http://localhost:${PORT}`;

describe("the quarantine of npm run dev", () => {
  let stack: DevStack;
  const sql = neon(LOCAL_CONNECTION_STRING);
  let requestId: string;

  beforeAll(async () => {
    stack = await startDevStack({ port: PORT, neonPort: NEON_PORT, database: "nomnom_test_rejections_cli" });
    neonConfig.fetchEndpoint = stack.neonUrl;
    await sql.query("ALTER TABLE customers ADD CONSTRAINT cli_balance_positive CHECK (account_balance >= 0)");
    const res = await fetch(`${base}/ingest/batch`, {
      method: "POST",
      headers: { "Content-Type": "text/plain" },
      body: "C|K1|Ann|x|1|5|1.00|A|b\nC|K2|Bo|x|1|5|-2.00|A|b\nX|junk",
    });
    expect(res.status).toBe(207);
    requestId = ((await res.json()) as { request_id: string }).request_id;
  });
  afterAll(() => stack?.stop());

  it("keeps a stream's rejected lines when the client goes away before the stream ends", async () => {
    const request = http.request(`${base}/ingest/stream`, { method: "POST", headers: { "Content-Type": "text/plain" } });
    request.on("error", () => {});
    const seen = new Promise<{ requestId: string }>((resolve) => {
      request.on("response", (response) => {
        let rejected = 0;
        const parser = createParser({
          onEvent: (e) => e.event === "rejected" && ++rejected === 3 && resolve({ requestId: String(response.headers["x-request-id"]) }),
        });
        response.setEncoding("utf8");
        response.on("data", (chunk: string) => parser.feed(chunk));
      });
    });
    request.write(["C|GONE1|Ann|x|1|5|1.00|A|b", "gone-1", "gone-2", "C|GONE2||x|1|5|1.00|A|b"].join("\n") + "\n");
    const { requestId } = await seen;
    // Gone at once, before the stream's next flush: the run's abort stores what was rejected.
    request.destroy();
    const deadline = Date.now() + 10_000;
    let raws: string[] = [];
    while (raws.length < 3 && Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 200));
      const page = (await (await fetch(`${base}/ingest/rejections?request_id=${requestId}`)).json()) as { rejections: { raw: string }[] };
      raws = page.rejections.map((r) => r.raw);
    }
    expect(raws).toEqual(["gone-1", "gone-2", "C|GONE2||x|1|5|1.00|A|b"]);
  });

  it("nomnom rejections list: a request's rejected lines, and show: one", () => {
    const list = nomnom("rejections", "list", "--url", base, "--request-id", requestId, "--json");
    expect(list.status).toBe(0);
    const rows = list.stdout
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as { id: number; raw: string; reason: string });
    expect(rows.map((r) => [r.reason, r.raw])).toEqual([
      ["database", expect.stringContaining('"customer_key":"K2"')],
      ["parse", "X|junk"],
    ]);
    const shown = nomnom("rejections", "show", String(rows[1].id), "--url", base);
    expect(shown.status).toBe(0);
    expect(shown.stdout).toContain("unknown prefix");
    expect(shown.stdout).toContain("X|junk");
    expect(nomnom("rejections", "show", "999999", "--url", base)).toMatchObject({ status: 2, stderr: expect.stringContaining("404") });
    expect(nomnom("rejections", "frob", "--url", base).status).toBe(64);
  });

  it("nomnom rejections replay: a dry run writes nothing, the replay writes what now passes, a second writes nothing", async () => {
    await sql.query("ALTER TABLE customers DROP CONSTRAINT cli_balance_positive");
    const dry = nomnom("rejections", "replay", "--url", base, "--request-id", requestId, "--dry-run");
    expect(dry.stdout).toContain("1 would be replayed (dry run, nothing written): 0 inserted, 0 duplicates; 1 still rejected");
    expect(dry.status).toBe(1);
    expect(await sql.query("SELECT 1 FROM customers WHERE customer_key = 'K2'")).toHaveLength(0);
    const real = nomnom("rejections", "replay", "--url", base, "--request-id", requestId);
    expect(real.stdout).toContain("1 replayed: 1 inserted, 0 duplicates; 1 still rejected");
    expect(real.stderr).toContain("unknown prefix");
    expect(await sql.query("SELECT account_balance::text AS b FROM customers WHERE customer_key = 'K2'")).toEqual([{ b: "-2.00" }]);
    expect(nomnom("rejections", "replay", "--url", base, "--request-id", requestId).stdout).toContain("0 replayed: 0 inserted");
  });
});
