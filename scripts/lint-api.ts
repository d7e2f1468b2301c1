/**
 * npm run lint:api: lints the OpenAPI document the Worker serves (app.ts' openApiDocument) with
 * `redocly lint` and its recommended rules (redocly.yaml). Offline: the document is written to a
 * temporary file, telemetry and update checks are off. Fails on any problem, warnings included.
 *   node scripts/lint-api.ts [document.json]   lint that file instead (how the test sees it fail)
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { openApiDocument } from "../src/app.ts";

interface Problem {
  ruleId: string;
  severity: string;
  message: string;
  location: { pointer: string }[];
}

const root = resolve(import.meta.dirname, "..");
let file = process.argv[2];
if (!file) {
  file = join(mkdtempSync(join(tmpdir(), "openapi-")), "openapi.json");
  writeFileSync(file, JSON.stringify(openApiDocument(), null, 2));
}

const cli = join(root, "node_modules/@redocly/cli/bin/cli.js");
const env = { ...process.env, REDOCLY_TELEMETRY: "off", REDOCLY_SUPPRESS_UPDATE_NOTICE: "true" };
const run = spawnSync(process.execPath, [cli, "lint", file, "--config", join(root, "redocly.yaml"), "--format", "json"], { env, encoding: "utf8" });
let report: { totals: { errors: number; warnings: number }; problems: Problem[] };
try {
  report = JSON.parse(run.stdout);
} catch {
  console.error(`lint:api: redocly lint did not answer a report (exit ${run.status}):\n${run.stdout}${run.stderr}`);
  process.exit(1);
}
for (const p of report.problems) console.error(`${p.severity} ${p.ruleId} at ${p.location[0]?.pointer ?? "?"}: ${p.message}`);
const { errors, warnings } = report.totals;
if (errors + warnings > 0) {
  console.error(`lint:api: ${errors} errors, ${warnings} warnings (every warning counts)`);
  process.exit(1);
}
console.log("lint:api: /openapi.json passes Redocly's recommended rules: 0 errors, 0 warnings");
