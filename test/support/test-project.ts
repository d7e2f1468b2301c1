/**
 * The entity set the service's tests run on (test/project: the TPC-H entities, their migrations and
 * generated code), independent of the user's entities/. See test/project/README.md.
 */
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

export const root = resolve(import.meta.dirname, "../..");
export const TEST_PROJECT = join(root, "test/project");
export const TEST_ENTITIES = join(TEST_PROJECT, "entities");
export const TEST_MIGRATIONS = join(TEST_PROJECT, "migrations");

/**
 * A copy of the project holding the test entity set (for tests that start `npm run dev`, which serves
 * the project it runs in): the service's code, with test/project's entities and migrations, built there.
 */
export function testProjectCopy(): string {
  const copy = mkdtempSync(join(tmpdir(), "nomnom-test-project-"));
  for (const entry of ["src", "scripts", "public", "wrangler.toml", "package.json", "tsconfig.json"]) {
    cpSync(join(root, entry), join(copy, entry), { recursive: true });
  }
  for (const entry of ["entities", "migrations"]) cpSync(join(TEST_PROJECT, entry), join(copy, entry), { recursive: true });
  rmSync(join(copy, "migrations/meta/databases.json"), { force: true });
  symlinkSync(join(root, "node_modules"), join(copy, "node_modules"));
  // Built in place: the generated code imports ../ingest from where it lies.
  execFileSync(process.execPath, ["scripts/build-entities.ts"], { cwd: copy, stdio: "pipe" });
  return copy;
}
