/** GET /stats (JSON) and GET /metrics (Prometheus), both from the merged Stats Durable Object shards. */
import type { Context } from "hono";
import type { AppEnv } from "../app-env.ts";
import { settingsOf } from "../env.ts";
import { PROMETHEUS_CONTENT_TYPE, prometheusText } from "../stats/prometheus.ts";
import { readStats } from "../stats/stats-client.ts";
import { statsReport } from "../stats/stats-report.ts";

async function merged(c: Context<AppEnv>) {
  const shards = settingsOf(c.env).STATS_SHARDS;
  return { snapshot: await readStats(c.env.STATS, shards), shards };
}

export async function stats(c: Context<AppEnv>) {
  const { snapshot, shards } = await merged(c);
  return c.json(statsReport(snapshot, shards));
}

export async function metrics(c: Context<AppEnv>) {
  const { snapshot } = await merged(c);
  return c.body(prometheusText(snapshot), 200, { "Content-Type": PROMETHEUS_CONTENT_TYPE });
}
