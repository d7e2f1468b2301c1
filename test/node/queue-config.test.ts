/** The queue consumer's settings agree with wrangler.toml: a part is parked before the queue would give up on it. */
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { settingsOf } from "../../src/env.ts";
import { root } from "../support/dev-stack.ts";

describe("the ingest queue's consumer", () => {
  it("parks a part (QUEUE_MAX_RETRIES) below the consumer's max_retries, and its dead-letter consumer retries rather than drops", () => {
    const toml = readFileSync(join(root, "wrangler.toml"), "utf8");
    const consumers = toml.split("[[queues.consumers]]").slice(1);
    const field = (block: string, name: string) => Number(new RegExp(`^${name} = (\\d+)`, "m").exec(block)?.[1]);
    const ingest = consumers.find((c) => /queue = "nomnom-ingest"\n/.test(c))!;
    const deadLetters = consumers.find((c) => /queue = "nomnom-ingest-dlq"/.test(c))!;
    const { QUEUE_MAX_RETRIES } = settingsOf({ DATABASE_URL: "postgres://u@h/db" });
    expect(QUEUE_MAX_RETRIES).toBeLessThan(field(ingest, "max_retries"));
    expect(field(deadLetters, "max_retries")).toBeGreaterThanOrEqual(10);
    expect(toml).toMatch(/crons = \[[^\]]*"\* \* \* \* \*"/);
  });
});
