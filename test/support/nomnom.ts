/** Runs the nomnom client (scripts/nomnom.mjs) as a user would, from the project's root. */
import { spawnSync } from "node:child_process";
import { root } from "./dev-stack.ts";

export function nomnom(...args: string[]) {
  const run = spawnSync(process.execPath, ["scripts/nomnom.mjs", ...args], { cwd: root, encoding: "utf8", timeout: 20_000 });
  return { status: run.status, stdout: run.stdout, stderr: run.stderr, lines: run.stderr.trim().split("\n") };
}
