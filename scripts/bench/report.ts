/** What each path measured, and the markdown table and machine description printed at the end. */
import { readFileSync } from "node:fs";
import { availableParallelism, release, totalmem } from "node:os";
import type { HeapReport } from "./inspector.ts";
import { ROLES, type Usage } from "./monitor.ts";

/** The middle value (the upper one of an even count): the bench's figure over rounds. */
export const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

/** What driving one path took, timed by the path itself from its first request to its last answer. */
export interface Driven {
  seconds: number;
  notes: string;
}

export interface PathResult extends Driven {
  path: string;
  rows: number;
  /** Bytes of pipe text the rows came from. */
  bytes: number;
  /** Absent for the parsers, which are measured without the stack. */
  usage?: Usage;
  /** The Worker isolate's V8 heap, where the path watched it. */
  heap?: HeapReport;
}

const int = (n: number) => Math.round(n).toLocaleString("en-US");
const mb = (bytes: number) => (bytes / 2 ** 20).toFixed(0);

function row(result: PathResult, baseline: PathResult): string[] {
  const rowsPerSecond = result.rows / result.seconds;
  const cpu = result.usage ? ROLES.map((role) => result.usage!.cpuSeconds[role].toFixed(1)).join(" / ") : "–";
  return [
    result.path,
    int(result.rows),
    result.seconds.toFixed(2),
    int(rowsPerSecond),
    (result.bytes / 1e6 / result.seconds).toFixed(2),
    `${(rowsPerSecond / (baseline.rows / baseline.seconds)).toFixed(3)}×`,
    result.usage && result !== baseline ? `${result.usage.rssGrowthMb.worker.toFixed(0)} / ${result.usage.rssGrowthMb.proxy.toFixed(0)}` : "–",
    result.heap ? `${mb(result.heap.before.usedSize)} / ${mb(result.heap.peak.usedSize)} / ${mb(result.heap.peak.totalSize)}` : "–",
    cpu,
    result.notes,
  ];
}

/** A markdown table; the first result is the baseline the others are compared with. */
export function resultsTable(results: readonly PathResult[]): string {
  const header = [
    "path",
    "rows",
    "s",
    "rows/s",
    "MB/s",
    "÷ COPY",
    "RSS +MB: worker / proxy",
    "heap MB: before / peak used / peak total",
    `CPU s: ${ROLES.join(" / ")}`,
    "notes",
  ];
  const lines = [header, header.map(() => "---"), ...results.map((r) => row(r, results[0]))];
  return lines.map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** `loadAtStart`: the 1-minute load average before the run; anything else running on the machine skews the numbers. */
export function machine(postgresVersion: string, loadAtStart: number): string {
  const model = /^model name\s*:\s*(.+)$/m.exec(readFileSync("/proc/cpuinfo", "utf8"))?.[1] ?? "unknown CPU";
  return `nproc ${availableParallelism()}, ${model}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB RAM, Linux ${release()}, PostgreSQL ${postgresVersion}, Node ${process.version}; load average ${loadAtStart.toFixed(2)} at start`;
}
