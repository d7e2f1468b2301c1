/**
 * /ingest/batch throughput with a feature on against off, in the same run: a second stack with the
 * feature switched off beside the first, rounds interleaved so drift in the machine's load falls on
 * both sides alike. Used for the Stats Durable Object (target: on ≥ 0.95 × off) and the retry layer.
 */
import type { PathResult } from "./report.ts";
import { startStack } from "./stack.ts";

interface Options {
  /** What is compared, for the printout. */
  feature: string;
  /** The environment that switches it off on the second stack. */
  off: Record<string, string>;
  /** The running stack, with the feature on. */
  onUrl: string;
  databaseUrl: string;
  port: number;
  logFile: string;
  rounds: number;
  run(url: string): Promise<PathResult>;
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function compareOnOff(options: Options): Promise<string> {
  const offStack = await startStack(options.databaseUrl, options.port, options.logFile, options.off);
  const rates = { on: [] as number[], off: [] as number[] };
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which side goes first, so neither always runs on a warmer database.
      const order = round % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const);
      for (const side of order) {
        const result = await options.run(side === "on" ? options.onUrl : offStack.url);
        rates[side].push(result.rows / result.seconds);
      }
    }
  } finally {
    await offStack.stop();
  }
  const on = median(rates.on);
  const off = median(rates.off);
  const fmt = (values: number[]) => values.map((v) => Math.round(v).toLocaleString("en-US")).join(", ");
  return [
    `${options.feature} on /ingest/batch (${options.rounds} interleaved rounds, medians; off = ${JSON.stringify(options.off)}):`,
    `  on:  ${Math.round(on).toLocaleString("en-US")} rows/s  (${fmt(rates.on)})`,
    `  off: ${Math.round(off).toLocaleString("en-US")} rows/s  (${fmt(rates.off)})`,
    `  on / off = ${(on / off).toFixed(3)}×`,
  ].join("\n");
}
