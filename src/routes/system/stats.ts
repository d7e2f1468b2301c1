/** GET /stats (JSON) and GET /metrics (Prometheus), both from the merged Stats Durable Object shards. */
import type { RouteHandler } from "@hono/zod-openapi";
import type { Context } from "hono";
import type { AppEnv } from "../../app-env.ts";
import { isolateCaches } from "../../compose.ts";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "../../stats/prometheus.ts";
import { readStats } from "../../stats/stats-client.ts";
import { statsReport } from "../../stats/stats-report.ts";
import type { metricsRoute, statsRoute } from "./system.routes.ts";

async function merged(c: Context<AppEnv>) {
  const shards = c.get("settings").STATS_SHARDS;
  return { snapshot: await readStats(isolateCaches.stats, c.env.STATS, shards), shards };
}

export const stats: RouteHandler<typeof statsRoute, AppEnv> = async (c) => {
  const { snapshot, shards } = await merged(c);
  return c.json(statsReport(snapshot, shards), 200);
};

export const metrics: RouteHandler<typeof metricsRoute, AppEnv> = async (c) => {
  const { snapshot } = await merged(c);
  return c.body(prometheusText(snapshot), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
};
