/** What clients are told when a lower layer fails: the service's stable words; the layer's own go to the log. */
import { env } from "cloudflare:test";
import { afterEach, describe, expect, it, vi } from "vitest";
import { DATABASE_UNAVAILABLE } from "../../src/errors.ts";
import { readEvents } from "../support/sse.ts";
import { callWorker } from "./support.ts";

const fault = (name: string) => fetch(new URL("/__faults", env.NEON_FETCH_ENDPOINT), { method: "POST", body: JSON.stringify({ fault: name }) });
const outage = { ...env, DB_RETRY_MS: "0", ASYNC_FALLBACK: "false" };

afterEach(() => fault("none"));

describe("an outage's answer", () => {
  it("says the database is unavailable in the one error shape, and logs the database layer's words with the request id", async () => {
    await fault("500");
    const logged = vi.spyOn(console, "error");
    try {
      for (const path of ["/ingest/message", "/ingest/batch"]) {
        const res = await callWorker(path, { method: "POST", body: "C|E1|A|x|1|5|1.00|A|b" }, outage);
        expect(res.status, path).toBe(503);
        const body = await res.json<Record<string, unknown>>();
        expect(body).toMatchObject({ status: "error", code: "database_unavailable", message: DATABASE_UNAVAILABLE, request_id: res.headers.get("x-request-id") });
        expect(JSON.stringify(body)).not.toMatch(/HTTP status|Server error|database unreachable/);
        const line = logged.mock.calls.map(([text]) => String(text)).find((text) => text.includes(String(body.request_id)));
        expect(line, path).toMatch(/HTTP status 500/);
      }
    } finally {
      logged.mockRestore();
    }
  });

  it("ends a stream with a failure event in the same words", async () => {
    await fault("500");
    const res = await callWorker("/ingest/stream", { method: "POST", body: "C|E2|A|x|1|5|1.00|A|b" }, outage);
    const failure = (await readEvents(res.body!)).at(-1)!;
    expect(failure).toMatchObject({ event: "failure", data: { status: 503, code: "database_unavailable", message: DATABASE_UNAVAILABLE, request_id: res.headers.get("x-request-id") } });
  });
});
