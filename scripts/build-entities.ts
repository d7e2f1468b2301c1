/**
 * The build script: compiles entities/*.yaml into src/generated/, and the change since the last
 * migration into one new numbered migration (never editing one already written).
 *   node scripts/build-entities.ts                       write the generated files
 *   node scripts/build-entities.ts --check               fail if they are stale
 *   node scripts/build-entities.ts --allow-destructive   also generate drops and lossy type changes (listed in the output)
 *   node scripts/build-entities.ts --discard-unapplied   remove the newest migration, if no database applied it (scripts/discard-unapplied.ts)
 *   node scripts/build-entities.ts --entities DIR --out DIR   another entity set, elsewhere
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { parseArgs } from "node:util";
import { compileEntities } from "./compiler/compile.ts";
import { EntityError } from "./compiler/model.ts";

const root = resolve(import.meta.dirname, "..");
const { values } = parseArgs({
  options: {
    check: { type: "boolean" },
    entities: { type: "string" },
    out: { type: "string" },
    "allow-destructive": { type: "boolean" },
    "discard-unapplied": { type: "boolean" },
  },
});

try {
  const out = resolve(values.out ?? root);
  if (values["discard-unapplied"]) {
    // Imported only here: it opens databases, which the build itself never does.
    const { discardUnapplied } = await import("./discard-unapplied.ts");
    const { devDatabaseSettings } = await import("./dev-database.ts");
    console.log(await discardUnapplied(out, devDatabaseSettings()));
    process.exit(0);
  }
  const compiled = compileEntities(resolve(values.entities ?? join(root, "entities")), out, { allowDestructive: values["allow-destructive"] });
  const stale: string[] = [];
  for (const [path, content] of compiled.files) {
    const target = join(out, path);
    if (values.check) {
      let current = "";
      try {
        current = readFileSync(target, "utf8");
      } catch {
        /* missing counts as stale */
      }
      if (current !== content) stale.push(path);
    } else {
      if (path.endsWith(".sql") && existsSync(target)) throw new EntityError(`${path} exists already: migrations are never rewritten`);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, content);
    }
  }
  if (stale.length > 0) {
    const why = compiled.migration.length > 0 ? ` The entities changed since the last migration (${compiled.migration.join("; ")}).` : "";
    const command =
      values.entities || values.out
        ? `node scripts/build-entities.ts ${process.argv
            .slice(2)
            .filter((a) => a !== "--check")
            .join(" ")}`
        : "npm run build";
    console.error(`Generated files are stale: ${stale.join(", ")}.${why} Run \`${command}\`, review the result and commit it.`);
    process.exit(1);
  }
  if (!values.check && compiled.migration.length > 0) {
    const written = [...compiled.files.keys()].find((p) => p.endsWith(".sql"));
    console.log(`New migration ${written}:\n${compiled.migration.map((line) => `  ${line}`).join("\n")}`);
    if (compiled.destructive.length > 0) {
      console.log(
        `It is DESTRUCTIVE (--allow-destructive): it deletes data, and Workers built before it answer 503 schema_ahead once it is applied (deploy the new Worker right after migrating):\n${compiled.destructive.map((line) => `  ${line}`).join("\n")}`,
      );
    }
    console.log("Review it, then apply it with `npm run migrate` (`npm run dev` applies it when it starts).");
  }
  const names = compiled.entities.map((e) => `${e.name} (${e.prefix})`).join(", ");
  console.log(`${values.check ? "Up to date" : "Generated"}: registry ${compiled.version}, ${compiled.entities.length} entities: ${names}`);
} catch (error) {
  if (!(error instanceof EntityError)) throw error;
  console.error(`Entity error: ${error.message}`);
  process.exit(1);
}
