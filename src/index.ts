/** Worker entry point: HTTP through the Hono app, the ingest queues' consumers, parked parts' re-drive, the quarantine's retention and Idempotency-Key expiry (Cron Triggers), and the Durable Object classes. Their dependencies come from src/compose.ts. */
import { app } from "./app.ts";
import { consumerDeps, expireIdempotencyKeys, rejectionStore } from "./compose.ts";
import { settingsOf } from "./env.ts";
import { enforceRetention } from "./ingest/rejections.ts";
import { consumeDeadLetters, consumeParts, type IngestPart, REDRIVE_CRON, redriveParked } from "./queue/async-ingest.ts";

export { StreamSlots } from "./limits/stream-slots-object.ts";
export { ParkedParts } from "./queue/parked-parts.ts";
export { ReceiptObject } from "./queue/receipt-object.ts";
export { StatsObject } from "./stats/stats-object.ts";

export default {
  fetch: app.fetch,
  async queue(batch: MessageBatch<IngestPart>, env: Env): Promise<void> {
    if (batch.queue.endsWith("-dlq")) await consumeDeadLetters(batch, env);
    else await consumeParts(batch, env, consumerDeps(settingsOf(env)));
  },
  async scheduled(controller: ScheduledController, env: Env): Promise<void> {
    const settings = settingsOf(env);
    if (controller.cron === REDRIVE_CRON) await redriveParked(env, consumerDeps(settings));
    else {
      await enforceRetention(rejectionStore(settings), settings.QUARANTINE_RETENTION_DAYS);
      await expireIdempotencyKeys(settings);
    }
  },
} satisfies ExportedHandler<Env, IngestPart>;
