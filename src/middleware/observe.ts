/**
 * observe(): one structured log line and one stats delta per request. Deltas are summed per
 * isolate and sent to the Stats Durable Object from waitUntil, off the response's critical path
 * (stats-client.ts); a streamed response is observed when its stream ends.
 */
import type { MiddlewareHandler } from "hono";
import type { AppEnv } from "../app-env.ts";
import { isolateCaches, waitUntil } from "../compose.ts";
import type { Settings } from "../env.ts";
import { recordDelta } from "../stats/stats-client.ts";
import { newMeter, type StatsDelta } from "../stats/stats-delta.ts";
import { clientRequestId } from "./request-id.ts";

export function observe(): MiddlewareHandler<AppEnv> {
  return async function observe(c, next) {
    const started = Date.now();
    const meter = newMeter();
    c.set("meter", meter);
    await next();
    const finish = () => {
      const at = Date.now();
      const delta: StatsDelta = {
        at,
        route: c.req.routePath === "/*" ? "(unmatched)" : c.req.routePath,
        status: c.res.status,
        bytes: meter.bytes,
        dbSeconds: meter.dbSeconds,
        durationSeconds: (at - started) / 1000,
        messages: meter.messages,
        rejections: meter.rejections,
        rejectionsNotStored: meter.rejectionsNotStored,
        keyId: c.get("principal")?.keyId ?? null,
      };
      console.log(
        JSON.stringify({
          request_id: c.get("requestId"),
          client_request_id: clientRequestId(c.req.header("x-request-id")),
          key_id: delta.keyId,
          method: c.req.method,
          route: delta.route,
          status: delta.status,
          duration_ms: at - started,
          bytes: delta.bytes,
          db_ms: Math.round(delta.dbSeconds * 1000),
          messages: delta.messages,
        }),
      );
      // Undefined when the settings did not parse (the request answered 500): logged, not counted.
      const settings: Settings | undefined = c.get("settings");
      if (settings?.STATS_ENABLED) {
        return recordDelta(isolateCaches.stats, c.env.STATS, settings.STATS_SHARDS, settings.STATS_FLUSH_MS, delta)?.catch((error: unknown) =>
          console.error(JSON.stringify({ level: "error", event: "stats_record_failed", error: String(error) })),
        );
      }
    };
    waitUntil(c, meter.done ? meter.done.then(finish) : Promise.resolve(finish()));
  };
}
