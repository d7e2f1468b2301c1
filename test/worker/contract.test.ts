/** Real responses parse with the zod schemas the OpenAPI document is generated from: the docs cannot drift unnoticed. */
import { SELF } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { StreamEvent } from "../../src/routes/ingest/stream.schemas.ts";
import { BatchResult, ErrorBody, HealthResult, MessageResult, StatsResult } from "../../src/routes/schemas.ts";
import { customerRecord } from "../support/customers.ts";
import { readEvents } from "../support/sse.ts";
import { call, fault, post, resetDatabase } from "../support/worker.ts";

beforeEach(resetDatabase);

describe("responses match the documented schemas", () => {
  it("for /ingest/message, success and error", async () => {
    MessageResult.parse(await (await post("/ingest/message", "C|C1|Ann|x|1|5|1.00|A|b", "text/plain")).json());
    MessageResult.parse(await (await post("/ingest/message", "C|C1|Ann|x|1|5|1.00|A|b", "text/plain")).json());
    ErrorBody.parse(await (await post("/ingest/message", "C|C1", "text/plain")).json());
  });

  it("for /ingest/batch, every status", async () => {
    for (const body of ["C|C2|Ann|x|1|5|1.00|A|b", "C|C3|Ann|x|1|5|1.00|A|b\nX|y", "X|y"]) {
      const res = await post("/ingest/batch", body, "text/plain");
      expect(BatchResult.safeParse(await res.json()).success).toBe(true);
    }
  });

  it("for /health and /stats", async () => {
    HealthResult.parse(await (await SELF.fetch("http://nomnom.test/health")).json());
    StatsResult.parse(await (await SELF.fetch("http://nomnom.test/stats")).json());
  });

  it("for /ingest/stream: every event, per line, with a rejected line, parses as the documented StreamEvent", async () => {
    const res = await post("/ingest/stream?progress=line", "C|C4|Ann|x|1|5|1.00|A|b\nX|y\nC|C5|Ann|x|1|5|1.00|A|b", "text/plain");
    const events = await readEvents(res.body!);
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(["progress", "rejected", "summary"]));
    for (const event of events) StreamEvent.parse(event);
  });

  it("for a stream that fails: the failure event is the Error shape onError answers", async () => {
    await fault("500");
    try {
      const res = await call("/ingest/stream", { method: "POST", body: "C|E9|A|x|1|5|1.00|A|b", bindings: { DB_RETRY_MS: "0", ASYNC_FALLBACK: "false" } });
      const failure = (await readEvents(res.body!)).at(-1)!;
      expect(StreamEvent.parse(failure)).toMatchObject({ event: "failure", data: { status: "error", code: "database_unavailable", http_status: 503 } });
      ErrorBody.strip().parse(failure.data);
    } finally {
      await fault("none");
    }
  });

  it("rejects a query parameter a route does not document", async () => {
    const res = await post("/ingest/batch?progress=line", "C|C1|A|x|1|5|1.00|A|b", "text/plain");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ message: expect.stringMatching(/^query parameter progress: /) });
  });

  it("rejects a query parameter outside the documented enum", async () => {
    const res = await post("/ingest/batch?entity=Invoice", "{}", "application/json");
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ message: expect.stringMatching(/^query parameter entity: /) });
  });

  // /ingest/message reads its query itself (checkedQuery), not through the validator middleware: the same answers.
  it("checks /ingest/message's query as the validator checks the other routes'", async () => {
    const refusals = [
      ["?progress=line", /^query parameter progress: /],
      ["?entity=Invoice", /^query parameter entity: /],
      ["?entity=Customer&entity=C", /^query parameter entity is given 2 times; give it once$/],
    ] as const;
    for (const [query, message] of refusals) {
      const res = await post(`/ingest/message${query}`, JSON.stringify(customerRecord("QM1")), "application/json");
      expect(res.status).toBe(400);
      expect(ErrorBody.parse(await res.json())).toMatchObject({ code: "bad_request", message: expect.stringMatching(message) });
    }
    const written = await post("/ingest/message?entity=C", JSON.stringify(customerRecord("QM1")), "application/json");
    expect(written.status).toBe(200);
    expect(MessageResult.parse(await written.json())).toMatchObject({ status: "success", entity: "Customer" });
  });
});
