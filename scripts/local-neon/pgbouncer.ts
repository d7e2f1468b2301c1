/**
 * A pooled endpoint like Neon's `-pooler` host: Debian's PgBouncer in front of a PostgreSQL, set up
 * as Neon's compute/etc/pgbouncer.ini (neondatabase/neon at 6a35a3e): `*` routes every database
 * name to the server, pool_mode=transaction, ignore_startup_parameters=extra_float_digits (so any
 * other startup parameter, `options` included, is refused), default_pool_size=64. PgBouncer 1.18
 * has no max_prepared_statements key and keeps no prepared statements in transaction mode: Neon's
 * max_prepared_statements=0 in effect. Local auth is trust (Neon's is SCRAM through auth_user).
 * Dev and test only: `npm run test:system` starts one; `node scripts/local-neon/pgbouncer.ts URL`
 * runs one for `npm run dev` (DATABASE_URL=<the URL it prints>). The user is an admin of PgBouncer's
 * console (database `pgbouncer`: SHOW CLIENTS, SHOW POOLS), as postgres is on Neon's.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort } from "../../test/support/free-port.ts";

export const PGBOUNCER = process.env.PGBOUNCER ?? "/usr/sbin/pgbouncer";

export interface PgBouncer {
  /** `databaseUrl` with PgBouncer's host and port: the same user and database, pooled. */
  url(databaseUrl: string): string;
  port: number;
  stop(): Promise<void>;
}

/** The config file, as Neon's (see above) where it matters here. */
function config(dir: string, server: URL, port: number, user: string): string {
  return `[databases]
* = host=${server.hostname} port=${server.port || 5432} application_name=pgbouncer
[pgbouncer]
listen_addr = 127.0.0.1
listen_port = ${port}
unix_socket_dir =
auth_type = trust
auth_file = ${join(dir, "userlist.txt")}
pool_mode = transaction
max_client_conn = 10000
default_pool_size = 64
ignore_startup_parameters = extra_float_digits
admin_users = ${user}
log_connections = 0
log_disconnections = 0
`;
}

async function listening(port: number, child: ChildProcess, log: () => string): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`pgbouncer exited (${child.exitCode}): ${log()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect({ host: "127.0.0.1", port }, () => {
        socket.end();
        resolve(true);
      });
      socket.once("error", () => resolve(false));
    });
    if (open) return;
    if (Date.now() > deadline) throw new Error(`pgbouncer did not listen on ${port} within 10 s: ${log()}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Starts PgBouncer on a free port with its config in a temporary folder, in front of `serverUrl`'s PostgreSQL. */
export async function startPgBouncer(serverUrl: string): Promise<PgBouncer> {
  const server = new URL(serverUrl);
  const dir = mkdtempSync(join(tmpdir(), "nomnom-pgbouncer-"));
  const port = await freePort();
  const user = decodeURIComponent(server.username || "postgres");
  writeFileSync(join(dir, "userlist.txt"), `"${user}" ""\n`);
  writeFileSync(join(dir, "pgbouncer.ini"), config(dir, server, port, user));
  // PgBouncer refuses to run as root (CI and containers): it switches to an unprivileged user, who must read the folder.
  const asRoot = process.getuid?.() === 0;
  if (asRoot) chmodSync(dir, 0o755);
  const child = spawn(PGBOUNCER, [...(asRoot ? ["-u", "nobody"] : []), join(dir, "pgbouncer.ini")], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  child.stderr!.on("data", (data: Buffer) => {
    log = (log + data.toString()).slice(-4000);
  });
  try {
    await listening(port, child, () => log);
  } catch (error) {
    child.kill("SIGKILL");
    rmSync(dir, { recursive: true, force: true });
    throw error;
  }
  return {
    port,
    url(databaseUrl: string) {
      const url = new URL(databaseUrl);
      url.hostname = "127.0.0.1";
      url.port = String(port);
      return url.toString();
    },
    async stop() {
      if (child.exitCode === null) {
        const exited = new Promise((resolve) => child.once("exit", resolve));
        // SIGINT: PgBouncer's "safe shutdown" waits for clients; SIGTERM closes them at once.
        child.kill("SIGTERM");
        await exited;
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

// `node scripts/local-neon/pgbouncer.ts postgres://postgres@127.0.0.1:5432/test`: one in front of that PostgreSQL until Ctrl-C.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const serverUrl = process.argv[2] ?? process.env.DATABASE_URL;
  if (!serverUrl) {
    console.error("usage: node scripts/local-neon/pgbouncer.ts postgres://user@host:port/database");
    process.exit(2);
  }
  const bouncer = await startPgBouncer(serverUrl);
  console.log(`PgBouncer (pool_mode=transaction, like Neon's -pooler host): ${bouncer.url(serverUrl)}`);
  console.log(`  DATABASE_URL=${bouncer.url(serverUrl)} npm run dev`);
  const stop = () => void bouncer.stop().then(() => process.exit(0));
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}
