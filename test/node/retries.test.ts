/** The retry policy for database calls: transient failures again within the budget, everything else at once. */
import { NeonDbError } from "@neondatabase/serverless";
import { describe, expect, it, onTestFinished, vi } from "vitest";
import { type Database, withRetries } from "../../src/db/neon.ts";
import { TransientDatabaseError } from "../../src/errors.ts";
import { RowsRejected } from "../../src/writer/port.ts";

const db = (retryMs: number) => ({ retryMs }) as Database;

function failing(times: number, error: () => Error) {
  let calls = 0;
  const attempt = async () => {
    calls++;
    if (calls <= times) throw error();
    return "done";
  };
  return { attempt, calls: () => calls };
}

describe("withRetries", () => {
  it("retries transient failures until one succeeds", async () => {
    const f = failing(3, () => new TransientDatabaseError("connection reset"));
    expect(await withRetries(db(10_000), f.attempt)).toBe("done");
    expect(f.calls()).toBe(4);
  });

  it("does not retry a row the database rejected", async () => {
    const f = failing(1, () => new RowsRejected("check violation", "23514"));
    await expect(withRetries(db(10_000), f.attempt)).rejects.toBeInstanceOf(RowsRejected);
    expect(f.calls()).toBe(1);
  });

  it("gives up when the next wait would pass the budget, with the last failure", async () => {
    const f = failing(100, () => new TransientDatabaseError("still down"));
    const started = Date.now();
    await expect(withRetries(db(400), f.attempt)).rejects.toThrow("still down");
    expect(Date.now() - started).toBeLessThan(1000);
    expect(f.calls()).toBeGreaterThan(1);
  });

  it("logs each transient answer it retries with Neon's full text, one no rule knows included", async () => {
    const warnings = vi.spyOn(console, "warn").mockImplementation(() => {});
    onTestFinished(() => warnings.mockRestore());
    const unknown = () =>
      new NeonDbError("Server error (HTTP status 500): " + JSON.stringify({ message: "Your compute is being moved. Retry shortly.", code: "" }));
    const f = failing(2, unknown);
    expect(await withRetries(db(10_000), f.attempt)).toBe("done");
    const lines = warnings.mock.calls.map(([line]) => JSON.parse(String(line)));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({ event: "neon_transient", condition: "Neon answered HTTP 500", message: "Your compute is being moved. Retry shortly." });
  });
});
