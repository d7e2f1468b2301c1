#!/usr/bin/env node
/**
 * Writes N deterministic TPC-H-like pipe lines to standard output: per order one O line and four
 * L lines, and a C or P line every fifth key. Keys start at --from (default 1,000,000), so files made
 * with different --from values do not overlap.
 *
 *   node examples/make-lines.mjs 500000 | gzip | curl … --data-binary @-
 */
import { parseArgs } from "node:util";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { from: { type: "string", default: "1000000" } } });
const count = Number(positionals[0] ?? 1000);
const from = Number(values.from);
if (!Number.isSafeInteger(count) || count < 0 || !Number.isSafeInteger(from)) {
  console.error("usage: node examples/make-lines.mjs [count] [--from first-key]");
  process.exit(64);
}

const pad = (n) => String(n).padStart(2, "0");
let written = 0;
let chunk = "";
for (let key = from; written < count; key++) {
  const kind = key % 10;
  const lines =
    kind === 0
      ? [`C|C${key}|Customer#${key}|${key} Main St|${key % 25}|25-989-741-${key % 10000}|${(key % 9999) - 999}.${pad(key % 100)}|BUILDING|regular deposits`]
      : kind === 5
        ? [`P|P${key}|part ${key}|Manufacturer#${key % 5}|Brand#${key % 55}|STANDARD POLISHED TIN|${key % 50}|SM BOX|${900 + (key % 100)}.99|final packages`]
        : [
            `O|${key}|C${key - (key % 10)}|O|${key % 100000}.${pad(key % 100)}|1996-${pad((key % 12) + 1)}-${pad((key % 28) + 1)}|5-LOW|Clerk#000000951|0|order ${key}`,
            ...[1, 2, 3, 4].map(
              (n) => `L|${key}|${n}|P${key % 2000}|S${key % 100}|${n * 3}|${n * 1000}.50|0.04|0.02|N|O|1996-03-13|1996-02-12|1996-03-22|carefully`,
            ),
          ];
  for (const line of lines.slice(0, count - written)) chunk += line + "\n";
  written = Math.min(count, written + lines.length);
  if (chunk.length > 1 << 16) {
    if (!process.stdout.write(chunk)) await new Promise((resolve) => process.stdout.once("drain", resolve));
    chunk = "";
  }
}
process.stdout.write(chunk);
