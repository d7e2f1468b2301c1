/** Opens the database (PostgreSQL at a URL, or PGlite), applies the migrations and serves the Neon protocol. */
import type { Server } from "node:http";
import { type Executor, migrate } from "../migrations.ts";
import { pgliteDatabase, postgresDatabase, type Database } from "./database.ts";
import { FaultSwitch } from "./faults.ts";
import { createLocalNeonServer, listen } from "./server.ts";

export interface LocalNeon {
  /** The /sql URL to give neonConfig.fetchEndpoint. */
  url: string;
  db: Database;
  close(): Promise<void>;
}

export interface LocalNeonOptions {
  /** A real PostgreSQL; without it, embedded PGlite. */
  databaseUrl?: string;
  /** PGlite's data folder; without it, in memory. */
  pgliteDir?: string;
  port?: number;
  migrate?: boolean;
  /** Where the migrator says what it applied. */
  log?: (line: string) => void;
  /** Test-only: accept POST /__faults to inject failures. */
  faults?: boolean;
}

/** The connection string the Worker sends: Neon wants a named host, user, password and database. */
export const LOCAL_CONNECTION_STRING = "postgres://app:local@db.localtest.me:5432/main";

/** The migrator's view of the database behind the endpoint. */
export function executorOf(db: Database): Executor {
  return {
    query: async (query, params = []) => (await db.query({ query, params })).rows,
    transaction: async (statements) => void (await db.transaction(statements.map((s) => ({ query: s.sql, params: s.params })), {})),
  };
}

export async function startLocalNeon(options: LocalNeonOptions = {}): Promise<LocalNeon> {
  const db = options.databaseUrl ? postgresDatabase(options.databaseUrl) : await pgliteDatabase(options.pgliteDir);
  if (options.migrate !== false) {
    await migrate(executorOf(db), options.log);
  }
  const server: Server = createLocalNeonServer(db, options.faults ? new FaultSwitch() : undefined);
  const url = await listen(server, options.port ?? 0);
  return {
    url,
    db,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await db.close();
    },
  };
}
