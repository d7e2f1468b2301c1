/** The benchmark's input: deterministic TPC-H-like pipe lines, and the rows they must leave in each table. */
import { ENTITIES, entityByPrefix } from "../../src/registry.ts";
import { tpchLines } from "../../test/support/tpch.ts";

export interface Workload {
  lines: string[];
  /** The lines as one body, each ended by "\n". */
  text: string;
  /** Size of `text` in bytes (the lines are ASCII). */
  bytes: number;
  /** Rows each table holds once every line is written. */
  rowsByTable: Map<string, number>;
}

/** `count` lines from tpchLines; different seeds give disjoint natural keys. */
export function workload(count: number, seed: number): Workload {
  const lines = tpchLines(count, seed);
  const rowsByTable = new Map(ENTITIES.map((e) => [e.table, 0]));
  for (const line of lines) {
    const table = entityByPrefix(line.slice(0, line.indexOf("|")))!.table;
    rowsByTable.set(table, rowsByTable.get(table)! + 1);
  }
  const text = lines.join("\n") + "\n";
  return { lines, text, bytes: Buffer.byteLength(text), rowsByTable };
}
