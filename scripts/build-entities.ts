/**
 * The build script: compiles entities/*.yaml into src/generated/ and migrations/.
 *   node scripts/build-entities.ts                       write the generated files
 *   node scripts/build-entities.ts --check               fail if they are stale
 *   node scripts/build-entities.ts --entities DIR --out DIR   another entity set, elsewhere
 */
import { mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { compileEntities } from "./compiler/compile.ts";
import { EntityError } from "./compiler/model.ts";

const root = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: { check: { type: "boolean" }, entities: { type: "string" }, out: { type: "string" } },
});

try {
  const compiled = compileEntities(resolve(values.entities ?? join(root, "entities")));
  const out = resolve(values.out ?? root);
  const stale: string[] = [];
  for (const [path, content] of compiled.files) {
    const target = join(out, path);
    if (values.check) {
      let current = "";
      try { current = readFileSync(target, "utf8"); } catch { /* missing counts as stale */ }
      if (current !== content) stale.push(path);
    } else {
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
    }
  }
  if (stale.length > 0) {
    console.error(`Generated files are stale: ${stale.join(", ")}. Run \`npm run build\` and commit the result.`);
    process.exit(1);
  }
  const names = compiled.entities.map((e) => `${e.name} (${e.prefix})`).join(", ");
  console.log(`${values.check ? "Up to date" : "Generated"}: registry ${compiled.version}, ${compiled.entities.length} entities: ${names}`);
} catch (error) {
  if (!(error instanceof EntityError)) throw error;
  console.error(`Entity error: ${error.message}`);
  process.exit(1);
}
