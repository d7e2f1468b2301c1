/**
 * The generated parsers alone, without the database: parse, validate and encode each row, then
 * join 10,000-line blocks into the statement parameter, as the Worker does before each flush.
 * - inside workerd: the bench Worker's `/parse` route (bench-worker/index.ts), with the Worker's
 *   CPU read from /proc, minus a request that only reads the same body;
 * - in Node's V8: the same code in this process, for comparison (an older V8 than workerd's).
 * Both run a warm-up first, so the numbers are the optimised code's.
 */
import { monitor } from "../monitor.ts";
import { blocksOf, parseBlocks } from "../parse-blocks.ts";
import type { Driven } from "../report.ts";
import type { Stack } from "../stack.ts";

const WARM_UP_LINES = 100_000;
/** The body sent to workerd, parsed as many times as it takes to make at least MIN_PARSED lines. */
const SAMPLE_LINES = 100_000;
/** /proc counts CPU in 10 ms ticks: a second of parsing keeps the error near 1%. */
const MIN_PARSED = 1_000_000;

const perTenThousand = (cpuSeconds: number, lines: number) => (cpuSeconds * 1000) / (lines / 10_000);

export function parseInNode(lines: readonly string[]): Driven {
  const blocks = blocksOf(lines);
  parseBlocks(blocksOf(lines.slice(0, WARM_UP_LINES)));
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const rows = parseBlocks(blocks);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (rows !== lines.length) throw new Error(`parsers: ${rows} rows from ${lines.length} lines`);
  return { seconds, notes: `CPU ${perTenThousand((cpu.user + cpu.system) / 1e6, lines.length).toFixed(1)} ms per 10,000 lines; no database` };
}

/** `worker`: the bench Worker under its own wrangler dev on `port`. Returns the lines parsed, and how long. */
export async function parseInWorkerd(worker: Stack, port: number, lines: readonly string[]): Promise<Driven & { rows: number }> {
  const sample = lines.slice(0, SAMPLE_LINES);
  const body = sample.join("\n") + "\n";
  const repeat = Math.ceil(Math.max(lines.length, MIN_PARSED) / sample.length);
  const parse = async (times: number) => {
    const watch = monitor({ stackPid: worker.pid, port });
    const started = performance.now();
    const res = await fetch(`${worker.url}/parse?repeat=${times}`, { method: "POST", body });
    const text = await res.text();
    const seconds = (performance.now() - started) / 1000;
    const cpu = watch.stop().cpuSeconds.worker;
    if (!res.ok) throw new Error(`parsers in workerd: HTTP ${res.status}: ${text.slice(0, 500)}`);
    const answer = JSON.parse(text) as { rows?: number };
    if (answer.rows !== (times > 0 ? sample.length : 0)) throw new Error(`parsers in workerd: ${text.slice(0, 500)}`);
    return { seconds, cpu };
  };
  await parse(Math.ceil(WARM_UP_LINES / sample.length));
  // Three measurements, the median reported: one second of CPU on a shared machine moves by ±10%.
  const measured: { seconds: number; cpuMs: number }[] = [];
  for (let i = 0; i < 3; i++) {
    await parse(0); // takes the garbage of the previous round's parsing, which is not reading's
    const reading = await parse(0);
    const parsing = await parse(repeat);
    measured.push({ seconds: parsing.seconds - reading.seconds, cpuMs: perTenThousand(parsing.cpu - reading.cpu, repeat * sample.length) });
  }
  measured.sort((a, b) => a.cpuMs - b.cpuMs);
  const { seconds, cpuMs } = measured[1];
  const range = `${measured[0].cpuMs.toFixed(1)}–${measured[2].cpuMs.toFixed(1)}`;
  return {
    rows: repeat * sample.length,
    seconds,
    notes: `Worker CPU ${cpuMs.toFixed(1)} ms per 10,000 lines (${((cpuMs * 1000) / 10_000).toFixed(2)} µs a line; median of 3, ${range} ms; ${sample.length.toLocaleString("en-US")} lines parsed ${repeat}×, minus reading them once); no database`,
  };
}
