/**
 * What authentication costs /ingest/message, in the same run: the same kind of single-line
 * requests with a valid API key (SHA-256 and a constant-time compare per request) and without
 * one (anonymous, allowed on the bench stack), in interleaved blocks.
 */
import { createHash, randomBytes } from "node:crypto";
import { postMessages } from "./paths/message.ts";
import { median } from "./report.ts";

/** A key and the API_KEYS value that admits it: give the value to the stack, the key to the client. */
export function benchKey(): { key: string; apiKeys: string } {
  const key = `nn_${randomBytes(24).toString("base64url")}`;
  return { key, apiKeys: JSON.stringify([{ id: "bench", sha256: createHash("sha256").update(key).digest("hex"), scopes: ["write:*", "read"] }]) };
}

export async function authCost(url: string, key: string, lines: readonly string[], clients: number, blocks = 6): Promise<string> {
  const size = Math.floor(lines.length / blocks);
  const p50 = { keyed: [] as number[], anonymous: [] as number[] };
  const p99 = { keyed: [] as number[], anonymous: [] as number[] };
  // A warm-up block each way first, not counted: otherwise the first block pays for the cold start.
  await postMessages(
    url,
    lines.slice(0, Math.min(50, size)).map((l) => l.replace("|", "|W")),
    clients,
    { Authorization: `Bearer ${key}` },
  );
  await postMessages(
    url,
    lines.slice(0, Math.min(50, size)).map((l) => l.replace("|", "|V")),
    clients,
  );
  for (let b = 0; b < blocks; b++) {
    const side = b % 2 === 0 ? "keyed" : "anonymous";
    const result = await postMessages(url, lines.slice(b * size, (b + 1) * size), clients, side === "keyed" ? { Authorization: `Bearer ${key}` } : {});
    p50[side].push(result.p50);
    p99[side].push(result.p99);
  }
  const ms = (n: number) => `${n.toFixed(2)} ms`;
  return [
    `authentication cost on /ingest/message (${clients} client${clients > 1 ? "s" : ""}, ${blocks} interleaved blocks of ${size}, medians of the blocks' percentiles):`,
    `  with a key:  p50 ${ms(median(p50.keyed))}, p99 ${ms(median(p99.keyed))}`,
    `  anonymous:   p50 ${ms(median(p50.anonymous))}, p99 ${ms(median(p99.anonymous))}`,
    `  difference:  p50 ${ms(median(p50.keyed) - median(p50.anonymous))}, p99 ${ms(median(p99.keyed) - median(p99.anonymous))}`,
  ].join("\n");
}
