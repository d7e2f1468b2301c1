/** Merged counters in the Prometheus text exposition format (version 0.0.4). */
import { DURATION_BUCKETS, type StatsSnapshot } from "./stats-delta.ts";
import { dimensions } from "./stats-report.ts";

export const PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

const label = (value: string) => value.replace(/\\/g, "\\\\").replace(/\n/g, "\\n").replace(/"/g, '\\"');

function family(out: string[], name: string, type: "counter" | "histogram" | "gauge", help: string): void {
  out.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
}

export function prometheusText(snapshot: StatsSnapshot, now = Date.now()): string {
  const d = dimensions(snapshot);
  const out: string[] = [];

  family(out, "ingestion_messages_total", "counter", "Messages processed, by entity and outcome (inserted, duplicate, failed).");
  for (const [entity, o] of Object.entries(d.entities)) {
    for (const [status, value] of [
      ["inserted", o.inserted],
      ["duplicate", o.duplicates],
      ["failed", o.failed],
    ] as const) {
      out.push(`ingestion_messages_total{entity="${label(entity)}",status="${status}"} ${value}`);
    }
  }

  family(out, "ingestion_duration_seconds", "histogram", "Duration of HTTP requests, from the first byte read to the last byte written.");
  let cumulative = 0;
  DURATION_BUCKETS.forEach((le, i) => {
    cumulative += d.buckets[i];
    out.push(`ingestion_duration_seconds_bucket{le="${le}"} ${cumulative}`);
  });
  out.push(`ingestion_duration_seconds_bucket{le="+Inf"} ${cumulative + d.buckets[DURATION_BUCKETS.length]}`);
  out.push(`ingestion_duration_seconds_sum ${d.durationSum}`, `ingestion_duration_seconds_count ${d.durationCount}`);

  family(out, "http_requests_total", "counter", "HTTP requests, by route and status code.");
  for (const [route, codes] of Object.entries(d.requests)) {
    for (const [code, value] of Object.entries(codes)) out.push(`http_requests_total{route="${label(route)}",code="${label(code)}"} ${value}`);
  }

  family(out, "http_requests_by_key_total", "counter", "HTTP requests, by API key id (never the key itself).");
  for (const [keyId, value] of Object.entries(d.byKey)) out.push(`http_requests_by_key_total{key_id="${label(keyId)}"} ${value}`);

  family(out, "ingestion_rejections_stored_total", "counter", "Rejected lines kept in the quarantine, by entity and reason (parse, scope, database).");
  for (const [entity, reasons] of Object.entries(d.rejections)) {
    for (const [reason, value] of Object.entries(reasons))
      out.push(`ingestion_rejections_stored_total{entity="${label(entity)}",reason="${label(reason)}"} ${value}`);
  }
  family(
    out,
    "ingestion_rejections_not_stored_total",
    "counter",
    "Rejected lines the quarantine did not keep: over QUARANTINE_MAX_PER_REQUEST, or the database failed (logged).",
  );
  out.push(`ingestion_rejections_not_stored_total ${d.rejectionsNotStored}`);

  family(out, "ingestion_database_seconds_total", "counter", "Time spent waiting for the database, summed over statements.");
  out.push(`ingestion_database_seconds_total ${d.dbSeconds}`);
  family(out, "ingestion_received_bytes_total", "counter", "Request body bytes received, as sent (before decompression).");
  out.push(`ingestion_received_bytes_total ${d.bytes}`);
  family(out, "ingestion_uptime_seconds", "gauge", "Seconds since the stats were first recorded.");
  out.push(`ingestion_uptime_seconds ${Math.max(0, Math.floor((now - snapshot.startedAt) / 1000))}`);
  return out.join("\n") + "\n";
}
