/** What clients are told when a lower layer fails: the service's stable words; the layer's own go to the log. */
import { afterEach, describe, expect, it, vi } from "vitest";
import { DATABASE_UNAVAILABLE } from "../../src/errors.ts";
import { readEvents } from "../support/sse.ts";
import { call, fault } from "../support/worker.ts";

const outage = { DB_RETRY_MS: "0", ASYNC_FALLBACK: "false" };

afterEach(() => fault("none"));

describe("an outage's answer", () => {
  it("says the database is unavailable in the one error shape, and logs the database layer's words with the request id", async () => {
    await fault("500");
    const logged = vi.spyOn(console, "error");
    try {
      for (const path of ["/ingest/message", "/ingest/batch"]) {
        const res = await call(path, { method: "POST", body: "C|E1|A|x|1|5|1.00|A|b", bindings: outage });
        expect(res.status, path).toBe(503);
        const body = await res.json<Record<string, unknown>>();
        expect(body).toMatchObject({
          status: "error",
          code: "database_unavailable",
          message: DATABASE_UNAVAILABLE,
          request_id: res.headers.get("x-request-id"),
        });
        expect(JSON.stringify(body)).not.toMatch(/HTTP status|Server error|injected fault|unreachable/);
        const line = logged.mock.calls.map(([text]) => String(text)).find((text) => text.includes(String(body.request_id)));
        expect(line, path).toMatch(/injected fault: PostgreSQL unreachable/);
      }
    } finally {
      logged.mockRestore();
    }
  });

  it("ends a stream with a failure event in the same words", async () => {
    await fault("500");
    const res = await call("/ingest/stream", { method: "POST", body: "C|E2|A|x|1|5|1.00|A|b", bindings: outage });
    const failure = (await readEvents(res.body!)).at(-1)!;
    expect(failure).toMatchObject({
      event: "failure",
      data: { status: "error", http_status: 503, code: "database_unavailable", message: DATABASE_UNAVAILABLE, request_id: res.headers.get("x-request-id") },
    });
  });
});
