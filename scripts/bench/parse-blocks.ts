/**
 * What the parsers benchmark times, shared by Node (paths/parsers.ts) and workerd
 * (bench-worker/index.ts): each 10,000-line block is parsed, validated and encoded, then its
 * rows are joined into the statement parameter, as the Worker does before each flush.
 */
import { parseLines } from "../../src/ingest/parse-messages.ts";
import type { ParsedBody } from "../../src/ingest/parsed-body.ts";

export const BLOCK_LINES = 10_000;
const NO_INVALID_LINES: ReadonlySet<number> = new Set();

export function blocksOf(lines: readonly string[]): string[] {
  const blocks: string[] = [];
  for (let i = 0; i < lines.length; i += BLOCK_LINES) blocks.push(lines.slice(i, i + BLOCK_LINES).join("\n") + "\n");
  return blocks;
}

/** Returns the rows parsed; any rejected line is an error (the benchmark's lines are all valid). */
export function parseBlocks(blocks: readonly string[]): number {
  let rows = 0;
  blocks.forEach((block, i) => {
    const out: ParsedBody = { rows: [], errors: [], messages: 0, chars: 0 };
    parseLines("text", block, i * BLOCK_LINES + 1, NO_INVALID_LINES, out);
    if (out.errors.length > 0) throw new Error(`parsers: line ${out.errors[0].line_number}: ${out.errors[0].message}`);
    const parameter = `[${out.rows.map((row) => row.json).join(",")}]`;
    if (parameter.charCodeAt(parameter.length - 1) !== 93 /* ] */) throw new Error("parsers: no statement parameter");
    rows += out.rows.length;
  });
  return rows;
}
