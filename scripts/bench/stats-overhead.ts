/**
 * /ingest/batch throughput with the Stats Durable Object on against off, in the same run:
 * a second stack with STATS_ENABLED=false beside the first, rounds interleaved so drift in the
 * machine's load falls on both sides alike. Issue 4's target: on ≥ 0.95 × off.
 */
import type { PathResult } from "./report.ts";
import { startStack } from "./stack.ts";

interface Options {
  statsOn: string;
  databaseUrl: string;
  port: number;
  logFile: string;
  rounds: number;
  run(url: string): Promise<PathResult>;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function statsOverhead(options: Options): Promise<string> {
  const off = await startStack(options.databaseUrl, options.port, options.logFile, { STATS_ENABLED: "false" });
  const rates = { on: [] as number[], off: [] as number[] };
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which side goes first, so neither always runs on a warmer database.
      const order = round % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const);
      for (const side of order) {
        const result = await options.run(side === "on" ? options.statsOn : off.url);
        rates[side].push(result.rows / result.seconds);
      }
    }
  } finally {
    await off.stop();
  }
  const on = median(rates.on);
  const offRate = median(rates.off);
  const fmt = (values: number[]) => values.map((v) => Math.round(v).toLocaleString("en-US")).join(", ");
  return [
    `stats overhead on /ingest/batch (${options.rounds} interleaved rounds, medians):`,
    `  stats on:  ${Math.round(on).toLocaleString("en-US")} rows/s  (${fmt(rates.on)})`,
    `  stats off: ${Math.round(offRate).toLocaleString("en-US")} rows/s  (${fmt(rates.off)})`,
    `  on / off = ${(on / offRate).toFixed(3)}×  (target ≥ 0.95×)`,
  ].join("\n");
}
