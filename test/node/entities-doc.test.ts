/**
 * docs/entities.md is the YAML reference: every YAML block in it is a complete entity file that must
 * compile, every type, transform and constraint the compiler knows must be in it, and the error it
 * quotes must be the compiler's own. So the reference cannot drift from the compiler.
 */
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { describe, expect, it } from "vitest";
import { compileEntities } from "../../scripts/compiler/compile.ts";
import { CLASSIC_TYPES, ITEM_TRANSFORMS, V1_TYPES } from "../../scripts/compiler/load-entities.ts";

const root = resolve(import.meta.dirname, "../..");
const doc = readFileSync(join(root, "docs/entities.md"), "utf8");
/** The fenced blocks of the doc whose info string is `lang`, read fence by fence. */
function blocks(lang: string): string[] {
  const out: string[] = [];
  let open: { lang: string; lines: string[] } | undefined;
  for (const line of doc.split("\n")) {
    if (!line.startsWith("```")) open?.lines.push(line);
    else if (open) {
      if (open.lang === lang) out.push(`${open.lines.join("\n")}\n`);
      open = undefined;
    } else open = { lang: line.slice(3).trim(), lines: [] };
  }
  return out;
}

/** Compiles one YAML text as a whole project of its own (an entities folder and an empty migrations folder). */
function compileText(yaml: string) {
  const dir = mkdtempSync(join(tmpdir(), "nomnom-doc-"));
  writeFileSync(join(dir, "entities.yaml"), yaml);
  return compileEntities(dir, mkdtempSync(join(tmpdir(), "nomnom-doc-project-")));
}

describe("docs/entities.md", () => {
  const yamlBlocks = blocks("yaml");

  it("has YAML examples of both dialects", () => {
    expect(yamlBlocks.length).toBeGreaterThanOrEqual(6);
    expect(yamlBlocks.some((b) => /^entity:/m.test(b))).toBe(true);
    expect(yamlBlocks.some((b) => /^apiVersion: nomnom\.io\/v1/m.test(b))).toBe(true);
  });

  yamlBlocks.forEach((yaml, n) => {
    const title =
      yaml
        .split("\n")
        .find((line) => /name: [A-Z]/.test(line))
        ?.trim() ?? `block ${n + 1}`;
    it(`compiles YAML block ${n + 1} (${title})`, () => {
      const { entities, files } = compileText(yaml);
      expect(entities.length).toBeGreaterThan(0);
      expect([...files.keys()].some((path) => /^migrations\/0001_create_/.test(path))).toBe(true);
    });
  });

  it("compiles the Sensor example to the columns and checks the tables promise", () => {
    const sensor = yamlBlocks.find((b) => b.includes("name: Sensor"))!;
    const sql = [...compileText(sensor).files].find(([path]) => path.endsWith(".sql"))![1];
    for (const piece of [
      `"kind" text NOT NULL CHECK ("kind" IN ('thermometer', 'hygrometer', 'barometer'))`,
      `"serial" varchar(16) CHECK (char_length("serial") >= 4)`,
      `"calibration" numeric(6, 3) CHECK ("calibration" >= -10) CHECK ("calibration" <= 10)`,
      `"firmware" integer DEFAULT '1' NOT NULL`,
      `CREATE UNIQUE INDEX "sensors_natural_key" ON "sensors" ("sensor_id")`,
      `CREATE INDEX "sensors_kind_installed_on_idx"`,
    ]) {
      expect(sql).toContain(piece);
    }
  });

  it("names every type, transform and constraint the compiler accepts", () => {
    for (const name of [...Object.keys(CLASSIC_TYPES), ...Object.keys(V1_TYPES), ...Object.keys(ITEM_TRANSFORMS)]) expect(doc).toContain(`\`${name}\``);
    for (const key of [
      "enum",
      "minLength",
      "maxLength",
      "pattern",
      "minimum",
      "maximum",
      "precision",
      "scale",
      "default",
      "renamed_from",
      "renamedFrom",
      "allow_duplicates",
      "allowDuplicates",
    ])
      expect(doc.includes(`\`${key}`) || doc.includes(`${key}: `), key).toBe(true);
  });

  it("quotes the missing natural key error exactly as the build gives it", () => {
    const quoted = blocks("").find((b) => b.startsWith("Entity error:"))!;
    const event = yamlBlocks.find((b) => b.includes("name: Event"))!.replace(/ +unicity_fields: \[\]\n.*allow_duplicates.*\n/, "");
    expect(() => compileText(event.replace("  persistence:\n    database:\n", ""))).toThrowError(
      quoted
        .replace(/^Entity error: /, "")
        .replace("entities/event.yaml", "entities.yaml")
        .replace(/\n/g, " ")
        .trim(),
    );
  });

  it("is linked from the README's quick start", () => {
    const readme = readFileSync(join(root, "README.md"), "utf8");
    const quickStart = readme.slice(readme.indexOf("## Quick start"), readme.indexOf("\n## ", readme.indexOf("## Quick start") + 1));
    expect(quickStart).toContain("(docs/entities.md)");
  });
});
