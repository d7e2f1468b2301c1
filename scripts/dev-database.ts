/**
 * The database `npm run dev` uses, for the scripts that look into it (npm run sql, the build's
 * --discard-unapplied): DATABASE_URL's PostgreSQL, or PGlite in PGLITE_DIR (default .data/pglite).
 * PGlite is one process's: while `npm run dev` runs, its folder is locked by it, so `npm run dev`
 * leaves the address of its local Neon endpoint beside the folder and these scripts go through it.
 */
import { existsSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { resolve } from "node:path";
import { pgliteDatabase, postgresDatabase } from "./local-neon/database.ts";

export const root = resolve(import.meta.dirname, "..");

export interface DevDatabaseSettings {
  databaseUrl?: string;
  pgliteDir: string;
}

export function devDatabaseSettings(env: NodeJS.ProcessEnv = process.env): DevDatabaseSettings {
  return { databaseUrl: env.DATABASE_URL || undefined, pgliteDir: resolve(root, env.PGLITE_DIR ?? ".data/pglite") };
}

/** Where a running `npm run dev` says how to reach its endpoint: beside the PGlite folder, so each folder has its own. */
const endpointFile = (pgliteDir: string) => `${pgliteDir}.endpoint.json`;

interface Endpoint {
  pid: number;
  url: string;
  connectionString: string;
}

export function announceEndpoint(pgliteDir: string, endpoint: Endpoint): () => void {
  const file = endpointFile(pgliteDir);
  writeFileSync(file, `${JSON.stringify(endpoint)}\n`);
  return () => rmSync(file, { force: true });
}

/** The endpoint of the `npm run dev` running over this PGlite folder, if one is. */
export function runningEndpoint(pgliteDir: string): Endpoint | undefined {
  const file = endpointFile(pgliteDir);
  if (!existsSync(file)) return undefined;
  const endpoint = JSON.parse(readFileSync(file, "utf8")) as Endpoint;
  try {
    process.kill(endpoint.pid, 0);
    return endpoint;
  } catch {
    return undefined; // left behind by a `npm run dev` that was killed
  }
}

export interface QueryResult {
  columns: string[];
  rows: (string | null)[][];
  command: string;
  rowCount: number | null;
}

export interface DevDatabase {
  /** For people: which database this is, and how it was reached. */
  description: string;
  query(sql: string): Promise<QueryResult>;
  close(): Promise<void>;
}

export class NoDevDatabase extends Error {}

/** Opens the dev database: directly, or through the running `npm run dev`'s endpoint when PGlite is in use by it. */
export async function openDevDatabase(settings = devDatabaseSettings()): Promise<DevDatabase> {
  if (settings.databaseUrl) {
    const db = postgresDatabase(settings.databaseUrl);
    return {
      description: `DATABASE_URL (${settings.databaseUrl.replace(/:[^:@/]*@/, ":***@")})`,
      query: async (sql) => toResult(await db.query({ query: sql, params: [] })),
      close: () => db.close(),
    };
  }
  const endpoint = runningEndpoint(settings.pgliteDir);
  if (endpoint) {
    return {
      description: `PGlite in ${settings.pgliteDir}, through the running npm run dev (${endpoint.url})`,
      // Neon's HTTP protocol, as the Worker speaks it, with values as PostgreSQL's text.
      async query(text) {
        const res = await fetch(endpoint.url, {
          method: "POST",
          headers: { "Neon-Connection-String": endpoint.connectionString, "Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true" },
          body: JSON.stringify({ query: text, params: [] }),
        });
        const body = (await res.json()) as Partial<QueryResult> & { fields?: { name: string }[]; message?: string; code?: string };
        if (!res.ok) throw Object.assign(new Error(body.message ?? `the endpoint answered ${res.status}`), { code: body.code });
        return { columns: (body.fields ?? []).map((f) => f.name), rows: body.rows ?? [], command: body.command ?? "", rowCount: body.rowCount ?? null };
      },
      close: async () => {},
    };
  }
  if (!existsSync(settings.pgliteDir)) {
    throw new NoDevDatabase(`no local database yet: ${settings.pgliteDir} does not exist. Start \`npm run dev\` once (it creates it), or set DATABASE_URL.`);
  }
  const db = await pgliteDatabase(settings.pgliteDir);
  return {
    description: `PGlite in ${settings.pgliteDir}`,
    query: async (sql) => toResult(await db.query({ query: sql, params: [] })),
    close: () => db.close(),
  };
}

function toResult(raw: { fields: { name: string }[]; rows: (string | null)[][]; command: string; rowCount: number | null }): QueryResult {
  return { columns: raw.fields.map((f) => f.name), rows: raw.rows, command: raw.command, rowCount: raw.rowCount };
}
