/** /ingest/batch end to end: the lines cut into bodies of `batchSize` lines, `concurrency` requests in flight. */
import type { Driven } from "../report.ts";

interface BatchAnswer {
  status: string;
  inserted: number;
  duplicates: number;
  failed: number;
  errors: { line_number: number; message: string }[];
}

/** `replay`: every line is already in the database, so each must come back as a duplicate. */
export async function postBatches(
  baseUrl: string,
  lines: readonly string[],
  batchSize: number,
  concurrency: number,
  replay = false,
  headers: Record<string, string> = {},
): Promise<Driven> {
  // Bodies are built and encoded before the clock starts: the client's work is not the server's.
  const bodies: { body: Uint8Array; lines: number }[] = [];
  for (let i = 0; i < lines.length; i += batchSize) {
    const batch = lines.slice(i, i + batchSize);
    bodies.push({ body: new TextEncoder().encode(batch.join("\n") + "\n"), lines: batch.length });
  }
  let next = 0;
  const client = async () => {
    for (let i = next++; i < bodies.length; i = next++) {
      const response = await fetch(`${baseUrl}/ingest/batch`, { method: "POST", headers: { ...headers, "Content-Type": "text/plain" }, body: bodies[i].body });
      const text = await response.text();
      if (response.status !== 200) throw new Error(`/ingest/batch request ${i + 1}: HTTP ${response.status}: ${text.slice(0, 500)}`);
      const answer = JSON.parse(text) as BatchAnswer;
      if ((replay ? answer.duplicates : answer.inserted) !== bodies[i].lines) {
        throw new Error(
          `/ingest/batch request ${i + 1}: ${replay ? `${answer.duplicates} duplicates` : `inserted ${answer.inserted}`} of ${bodies[i].lines} lines (${answer.failed} failed; first: ${answer.errors[0]?.message})`,
        );
      }
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(concurrency, bodies.length) }, client));
  return { seconds: (performance.now() - started) / 1000, notes: `${bodies.length} requests of ≤${batchSize} lines, ${concurrency} at a time` };
}
