/** Opens the database (PostgreSQL at a URL, or PGlite), applies the migrations and serves the Neon protocol. */
import type { Server } from "node:http";
import { type Executor, migrate } from "../migrations.ts";
import { type Database, pgliteDatabase, postgresDatabase } from "./database.ts";
import { FaultSwitch } from "./faults.ts";
import { createLocalNeonServer, listen } from "./server.ts";
import { createLocalNeonWsServer, listenWs } from "./ws-server.ts";

export interface LocalNeon {
  /** The /sql URL to give neonConfig.fetchEndpoint. */
  url: string;
  /**
   * The WebSocket endpoint, as neonConfig.wsProxy takes it (host:port/v2): over PostgreSQL, or over
   * PGlite when asked (`pgliteWebSocket`).
   */
  wsProxy?: string;
  /** A connection string this endpoint accepts: LOCAL_CONNECTION_STRING with the endpoint's password. */
  connectionString: string;
  db: Database;
  close(): Promise<void>;
}

export interface LocalNeonOptions {
  /** A real PostgreSQL; without it, embedded PGlite. */
  databaseUrl?: string;
  /** PGlite's data folder; without it, in memory. */
  pgliteDir?: string;
  port?: number;
  /** The WebSocket endpoint's port; 0 or absent: any free port. */
  wsPort?: number;
  /**
   * Serve the WebSocket endpoint over PGlite too (pglite-wire.ts answers COPY FROM STDIN; its one
   * session is leased per transaction, so WebSocket clients and HTTP requests take turns).
   */
  pgliteWebSocket?: boolean;
  migrate?: boolean;
  /** The migrations to apply (default: the project's migrations/). */
  migrationsDir?: string;
  /** Where the migrator says what it applied. */
  log?: (line: string) => void;
  /** Test-only: accept POST /__faults to inject failures. */
  faults?: boolean;
  /** The password the connection string must carry (LOCAL_NEON_PASSWORD); without it, any password. */
  password?: string;
}

/** The connection string the Worker sends: Neon wants a named host, user, password and database. */
export const LOCAL_CONNECTION_STRING = "postgres://app:local@db.localtest.me:5432/main";

/** The migrator's view of the database behind the endpoint. */
export function executorOf(db: Database): Executor {
  return {
    query: async (query, params = []) => (await db.query({ query, params })).rows,
    transaction: async (statements) =>
      void (await db.transaction(
        statements.map((s) => ({ query: s.sql, params: s.params })),
        {},
      )),
  };
}

/** LOCAL_CONNECTION_STRING with another password. */
export function localConnectionString(password?: string): string {
  if (password === undefined) return LOCAL_CONNECTION_STRING;
  const url = new URL(LOCAL_CONNECTION_STRING);
  url.password = password;
  return url.toString();
}

export async function startLocalNeon(options: LocalNeonOptions = {}): Promise<LocalNeon> {
  const db = options.databaseUrl ? postgresDatabase(options.databaseUrl) : await pgliteDatabase(options.pgliteDir);
  if (options.migrate !== false) {
    await migrate(executorOf(db), options.log, options.migrationsDir);
  }
  const faults = options.faults ? new FaultSwitch() : undefined;
  const server: Server = createLocalNeonServer(db, { faults, password: options.password });
  const url = await listen(server, options.port ?? 0);
  // The same fault switch: a fault set through POST /__faults strikes both protocols.
  const target = options.databaseUrl ?? (options.pgliteWebSocket && db.lease ? { lease: db.lease } : undefined);
  const wsServer = target ? createLocalNeonWsServer(target, { faults, password: options.password }) : undefined;
  const wsProxy = wsServer ? await listenWs(wsServer.server, options.wsPort ?? 0) : undefined;
  return {
    url,
    wsProxy,
    connectionString: localConnectionString(options.password),
    db,
    async close() {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
      await wsServer?.close();
      await db.close();
    },
  };
}
