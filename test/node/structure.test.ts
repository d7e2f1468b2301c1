/**
 * scripts/check-structure.ts on small fixture trees (written to a temporary folder): a cycle between
 * units is found with the files that make it, a file directly in src/ is a unit of its own, long
 * files and functions are named, src/generated/ is exempt from the lengths, and the command exits
 * non-zero on a violation.
 */
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { checkStructure, formatReport } from "../../scripts/check-structure.ts";

const root = resolve(import.meta.dirname, "../..");
const made: string[] = [];
afterAll(() => {
  for (const dir of made) rmSync(dir, { recursive: true, force: true });
});

/** A project folder with a tsconfig.json and the given files under src/. */
function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), "structure-"));
  made.push(dir);
  const tsconfig = { compilerOptions: { allowImportingTsExtensions: true, noEmit: true, module: "esnext", moduleResolution: "bundler" }, include: ["src"] };
  writeFileSync(join(dir, "tsconfig.json"), JSON.stringify(tsconfig));
  for (const [path, text] of Object.entries(files)) {
    mkdirSync(dirname(join(dir, "src", path)), { recursive: true });
    writeFileSync(join(dir, "src", path), text);
  }
  return dir;
}

/** A function whose body spans `lines` lines in all, first and last included. */
const functionOf = (name: string, lines: number) => `export function ${name}() {\n${"  void 0;\n".repeat(lines - 2)}}\n`;

describe("check-structure", () => {
  it("finds a cycle through two folders and names every import that makes it", () => {
    const report = checkStructure(
      tree({
        "db/store.ts": 'import type { Row } from "../ingest/rows.ts";\nexport const store = (row: Row) => row;\n',
        "ingest/rows.ts": "export type Row = { id: number };\n",
        "ingest/service.ts": 'export { store } from "../db/store.ts";\n',
      }),
    );
    expect(report.cycles).toHaveLength(1);
    expect(report.cycles[0].units).toEqual(["db", "ingest"]);
    expect(report.cycles[0].edges.map((e) => `${e.from}->${e.to} ${e.file}`)).toEqual(["db->ingest src/db/store.ts", "ingest->db src/ingest/service.ts"]);
    expect(formatReport(report)).toContain("cycle between units: db -> ingest -> db");
  });

  it("counts a file directly in src/ as a unit of its own", () => {
    const report = checkStructure(
      tree({
        "compose.ts": 'import { route } from "./routes/ingest.ts";\nexport const app = route;\n',
        "routes/ingest.ts": 'import type { app } from "../compose.ts";\nexport const route = 1;\nexport type App = typeof app;\n',
        "registry.ts": 'import { entity } from "./entity/entity.ts";\nexport const registry = entity;\n',
        "entity/entity.ts": "export const entity = 1;\n",
      }),
    );
    expect(report.cycles.map((c) => c.units)).toEqual([["compose.ts", "routes"]]);
  });

  it("finds a long function and a long file, and exempts src/generated/", () => {
    const long = functionOf("tooLong", 81);
    const report = checkStructure(
      tree({
        "ingest/flow.ts": `${functionOf("fine", 80)}${long}export const arrow = () => {\n${"  void 0;\n".repeat(85)}};\n`,
        "ingest/big.ts": "export const x = 1;\n".repeat(301),
        "generated/registry.ts": `${long}${"export const y = 1;\n".repeat(400)}`,
      }),
    );
    expect(report.longFunctions.map((f) => [f.file, f.name, f.lines])).toEqual([
      ["src/ingest/flow.ts", "tooLong", 81],
      ["src/ingest/flow.ts", "arrow", 87],
    ]);
    expect(report.longFiles).toEqual([{ file: "src/ingest/big.ts", lines: 301 }]);
    expect(formatReport(report)).toContain("function over 80 lines: tooLong in src/ingest/flow.ts:81 has 81 lines");
  });

  it("exits non-zero and says why on a violation, zero on a clean tree", () => {
    const run = (dir: string) => spawnSync(process.execPath, [join(root, "scripts/check-structure.ts"), dir], { encoding: "utf8" });
    const bad = run(tree({ "a/x.ts": 'import "../b/y.ts";\n', "b/y.ts": 'import "../a/x.ts";\n' }));
    expect(bad.status).toBe(1);
    expect(bad.stderr).toContain("cycle between units: a -> b -> a");
    const good = run(tree({ "a/x.ts": 'import "../b/y.ts";\n', "b/y.ts": "export {};\n" }));
    expect(good.stderr).toBe("");
    expect(good.status).toBe(0);
  });
});
