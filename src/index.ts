/** Worker entry point: HTTP through the Hono app, the ingest queues' consumers, and the Durable Object classes. */
import { app } from "./app.ts";
import { settingsOf, type Bindings } from "./env.ts";
import { consumeDeadLetters, consumeParts, type IngestPart } from "./queue/async-ingest.ts";

export { ReceiptObject } from "./queue/receipt-object.ts";
export { StatsObject } from "./stats/stats-object.ts";
export { StreamSlots } from "./limits/stream-slots.ts";

export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch<IngestPart>, env: Bindings): Promise<void> {
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env);
    else await consumeParts(batch, env, settingsOf(env));
  },
} satisfies ExportedHandler<Bindings, IngestPart>;
