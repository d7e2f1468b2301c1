/**
 * The generated parsers alone, in Node's V8 rather than workerd's (no route may be added to the
 * Worker to time them there): src/ingest/parse-messages.ts over the same text, 10,000 lines per
 * call as the Worker flushes, after a warm-up so the numbers are the optimised code's.
 */
import { parseLines, type ParsedBody } from "../../../src/ingest/parse-messages.ts";
import type { Driven } from "../report.ts";

const BLOCK_LINES = 10_000;
const WARM_UP_LINES = 100_000;
const NO_INVALID_LINES: ReadonlySet<number> = new Set();

function parseBlocks(blocks: readonly string[]): number {
  let rows = 0;
  blocks.forEach((block, i) => {
    const out: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 };
    parseLines("text", block, i * BLOCK_LINES + 1, NO_INVALID_LINES, out);
    if (out.errors.length > 0) throw new Error(`parsers: line ${out.errors[0].line_number}: ${out.errors[0].message}`);
    rows += out.rows.length;
  });
  return rows;
}

export function parseAll(lines: readonly string[]): Driven {
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i += BLOCK_LINES) blocks.push(lines.slice(i, i + BLOCK_LINES).join("\n") + "\n");
  parseBlocks(blocks.slice(0, WARM_UP_LINES / BLOCK_LINES));
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  const rows = parseBlocks(blocks);
  const seconds = (performance.now() - started) / 1000;
  const cpu = process.cpuUsage(cpuBefore);
  if (rows !== lines.length) throw new Error(`parsers: ${rows} rows from ${lines.length} lines`);
  const cpuMsPer10k = (cpu.user + cpu.system) / 1000 / (lines.length / 10_000);
  return { seconds, notes: `CPU ${cpuMsPer10k.toFixed(1)} ms per 10,000 lines; no database` };
}
