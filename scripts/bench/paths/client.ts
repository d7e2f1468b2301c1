/**
 * Single records through nomnom-edge/client: `senders` concurrent loops (an application's request
 * handlers) each send one record at a time into one shared client, which batches them to
 * /ingest/batch; timed from the first send() to close() settling, every record written. The same
 * lines /ingest/message is given, as the JSON records a program would have.
 */
import { NomnomClient } from "../../../client/index.mjs";
import { entityByPrefix } from "../../../src/registry.ts";
import type { Driven } from "../report.ts";

/** A pipe line as its entity's JSON record: fields by name in wire order, an empty field left out (null). */
export function recordOf(line: string): { entity: string; record: Record<string, string> } {
  const [prefix, ...values] = line.split("|");
  const entity = entityByPrefix(prefix);
  if (!entity) throw new Error(`no entity with prefix ${prefix}: ${line}`);
  const record = Object.fromEntries(entity.fields.map((key, i) => [key, values[i]]).filter(([, value]) => value !== undefined && value !== ""));
  return { entity: entity.name, record };
}

export async function sendThroughClient(baseUrl: string, lines: readonly string[], senders: number): Promise<Driven> {
  // Records are made before the clock starts: the application already has them.
  const records = lines.map(recordOf);
  const client = new NomnomClient({ url: baseUrl });
  let next = 0;
  const sender = async () => {
    for (let i = next++; i < records.length; i = next++) {
      const { entity, record } = records[i];
      // The registry's names and records are the generated types' at runtime: the cast only widens them.
      await client.send(entity as "Order", record as never);
    }
  };
  const started = performance.now();
  await Promise.all(Array.from({ length: Math.min(senders, records.length) }, sender));
  const counts = await client.close();
  const seconds = (performance.now() - started) / 1000;
  if (counts.inserted !== records.length) {
    throw new Error(`nomnom-edge/client: ${records.length} records sent, ${counts.inserted} inserted (${JSON.stringify(counts)})`);
  }
  return {
    seconds,
    notes: `${senders} senders, one client: ${counts.requests} requests (batches of up to 500 and GET /health), ${Math.round(records.length / seconds)}/s`,
  };
}
