/**
 * migrations/: numbered SQL files, append-only, with a journal (meta/_journal.json: each file's number,
 * name and hash) and a snapshot of the schema each generated migration left (meta/NNNN_snapshot.json).
 * The build diffs the entities against the latest snapshot and adds one migration for the change;
 * hand-written migrations (the service's own tables) are taken into the journal as they are.
 */
import { createHash } from "node:crypto";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { EntityError, type EntityModel } from "./model.ts";
import { type DiffOptions, diffSchema, type SnapshotEntity } from "./schema-diff.ts";

/** Statements are separated by this marker so the migrator can send them one at a time (Neon runs one per query). */
export const STATEMENT_BREAK = "--> statement-breakpoint";
/** A hand-written migration that renames or drops what older Workers write says so in a line of its own. */
export const BREAKS_OLDER_WORKERS = "-- nomnom: breaks-older-workers";

export interface JournalEntry {
  idx: number;
  tag: string;
  sha256: string;
  /** Workers built before this migration must not write after it (a rename): they answer schema_ahead. */
  breaksOlderWorkers: boolean;
}

export interface Journal {
  generated_by: string;
  entries: JournalEntry[];
}

export interface MigrationPlan {
  /** Repository-relative path → content: the journal, and a new migration with its snapshot when the entities changed. */
  files: Map<string, string>;
  entries: JournalEntry[];
  /** What the new migration does, one line a change (empty: none). */
  summary: string[];
  /** Its statements that lose data (DROP …, lossy ALTER), for the build's output. */
  destructive: string[];
  /** The schema as of the last migration (the new one, if any), with the reserved positions of dropped fields. */
  schema: SnapshotEntity[];
}

export const sha256 = (text: string) => createHash("sha256").update(text).digest("hex");
const pad = (n: number) => String(n).padStart(4, "0");
const FILE = /^(\d{4})_([a-z0-9_]+)\.sql$/;

function slug(summary: string[]): string {
  const first = summary[0]
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, "_")
    .replace(/^_|_$/g, "")
    .slice(0, 40);
  return summary.length > 1 ? `${first}_and_${summary.length - 1}_more` : first;
}

export function readJournal(dir: string): JournalEntry[] {
  const path = join(dir, "meta", "_journal.json");
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Journal).entries : [];
}

function latestSnapshot(dir: string, entries: JournalEntry[]): SnapshotEntity[] {
  const meta = join(dir, "meta");
  const snapshots = existsSync(meta)
    ? readdirSync(meta)
        .filter((f) => /^\d{4}_snapshot\.json$/.test(f))
        .sort()
    : [];
  if (snapshots.length === 0) {
    if (entries.length > 0)
      throw new EntityError(
        `${meta}: no schema snapshot (NNNN_snapshot.json) beside the journal, so the entities cannot be compared with the database's schema. Restore it from git.`,
      );
    return [];
  }
  return (JSON.parse(readFileSync(join(meta, snapshots.at(-1)!), "utf8")) as { entities: SnapshotEntity[] }).entities;
}

/** Checks the journal against the files, takes in new hand-written files, and plans the entities' next migration. */
export function planMigrations(
  entities: EntityModel[],
  dir: string,
  relativeDir: string,
  header: (comment: string) => string,
  options: DiffOptions = {},
): MigrationPlan {
  const entries = readJournal(dir).map((e) => ({ ...e }));
  const files = existsSync(dir)
    ? readdirSync(dir)
        .filter((f) => f.endsWith(".sql"))
        .sort()
    : [];
  for (const entry of entries) {
    const file = `${entry.tag}.sql`;
    if (!files.includes(file))
      throw new EntityError(`${relativeDir}/${file} is in the journal but missing: migrations are never deleted. Restore it from git.`);
    if (sha256(readFileSync(join(dir, file), "utf8")) !== entry.sha256) {
      throw new EntityError(
        `${relativeDir}/${file} was edited after it was written: migrations are append-only (databases may already have run it). Restore it (git checkout ${relativeDir}/${file}) and put the change in a new migration.`,
      );
    }
  }
  for (const file of files) {
    const match = FILE.exec(file);
    if (!match) throw new EntityError(`${relativeDir}/${file}: a migration's name must be NNNN_lower_snake_case.sql`);
    const tag = file.slice(0, -4);
    if (entries.some((e) => e.tag === tag)) continue;
    const idx = Number(match[1]);
    const last = entries.at(-1)?.idx ?? 0;
    if (idx !== last + 1) throw new EntityError(`${relativeDir}/${file}: the next migration must be number ${pad(last + 1)}`);
    const text = readFileSync(join(dir, file), "utf8");
    entries.push({ idx, tag, sha256: sha256(text), breaksOlderWorkers: text.split("\n").includes(BREAKS_OLDER_WORKERS) });
  }

  const out = new Map<string, string>();
  const change = diffSchema(latestSnapshot(dir, entries), entities, options);
  if (change.statements.length > 0) {
    const idx = (entries.at(-1)?.idx ?? 0) + 1;
    const tag = `${pad(idx)}_${slug(change.summary)}`;
    // Running the build again does not rewrite a migration, so its header says what does.
    const generated = header("--")
      .trimEnd()
      .replace(/Do not edit: .*$/, "Do not edit: migrations are append-only; a later change gets a migration of its own.");
    const lines = [generated, ...(change.breaksOlderWorkers ? [BREAKS_OLDER_WORKERS] : []), ...change.summary.map((s) => `-- ${s}`)];
    const sql = `${lines.join("\n")}\n${change.statements.join(`\n${STATEMENT_BREAK}\n`)}\n`;
    out.set(`${relativeDir}/${tag}.sql`, sql);
    out.set(`${relativeDir}/meta/${pad(idx)}_snapshot.json`, `${JSON.stringify({ generated_by: header("").trim(), entities: change.after }, null, 2)}\n`);
    entries.push({ idx, tag, sha256: sha256(sql), breaksOlderWorkers: change.breaksOlderWorkers });
  }
  const journal: Journal = {
    generated_by: "scripts/build-entities.ts: the migrations in order, with their hashes. Do not edit: run `npm run build`.",
    entries,
  };
  out.set(`${relativeDir}/meta/_journal.json`, `${JSON.stringify(journal, null, 2)}\n`);
  const changed = change.statements.length > 0;
  return { files: out, entries, summary: changed ? change.summary : [], destructive: changed ? change.destructive : [], schema: change.after };
}
