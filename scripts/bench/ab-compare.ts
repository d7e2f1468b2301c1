/**
 * /ingest/batch throughput with a feature on against off, in the same run: two fresh stacks side by
 * side, alike but for the feature (so neither carries the other paths' warm-up or heap), rounds
 * interleaved so drift in the machine's load falls on both sides alike. Used for the Stats Durable
 * Object (target: on ≥ 0.95 × off) and the retry layer.
 */
import { median, type PathResult } from "./report.ts";
import { startStack } from "./stack.ts";

interface Options {
  /** What is compared, for the printout. */
  feature: string;
  /** The environments that switch it on and off. */
  on: Record<string, string>;
  off: Record<string, string>;
  databaseUrl: string;
  /** Two free ports: on, off. */
  ports: [number, number];
  logFile: (side: string) => string;
  rounds: number;
  run(url: string): Promise<PathResult>;
}

export async function compareOnOff(options: Options): Promise<string> {
  const onStack = await startStack(options.databaseUrl, options.ports[0], options.logFile("on"), options.on);
  const offStack = await startStack(options.databaseUrl, options.ports[1], options.logFile("off"), options.off).catch(async (error: unknown) => {
    await onStack.stop();
    throw error;
  });
  const rates = { on: [] as number[], off: [] as number[] };
  try {
    for (let round = 0; round < options.rounds; round++) {
      // Alternate which side goes first, so neither always runs on a warmer database.
      const order = round % 2 === 0 ? (["on", "off"] as const) : (["off", "on"] as const);
      for (const side of order) {
        const result = await options.run(side === "on" ? onStack.url : offStack.url);
        rates[side].push(result.rows / result.seconds);
      }
    }
  } finally {
    await Promise.all([onStack.stop(), offStack.stop()]);
  }
  const on = median(rates.on);
  const off = median(rates.off);
  const fmt = (values: number[]) => values.map((v) => Math.round(v).toLocaleString("en-US")).join(", ");
  return [
    `${options.feature} on /ingest/batch (${options.rounds} interleaved rounds, medians; on = ${JSON.stringify(options.on)}, off = ${JSON.stringify(options.off)}):`,
    `  on:  ${Math.round(on).toLocaleString("en-US")} rows/s  (${fmt(rates.on)})`,
    `  off: ${Math.round(off).toLocaleString("en-US")} rows/s  (${fmt(rates.off)})`,
    `  on / off = ${(on / off).toFixed(3)}×`,
  ].join("\n");
}
