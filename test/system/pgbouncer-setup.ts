/**
 * The system-pgbouncer project's PgBouncer (scripts/local-neon/pgbouncer.ts), like Neon's -pooler
 * host, in front of TEST_DATABASE_URL's PostgreSQL: on a free port, its config in a temporary
 * folder, stopped when the run ends. Tests read its port with inject("pgbouncerPort").
 */
import type { TestProject } from "vitest/node";
import { startPgBouncer } from "../../scripts/local-neon/pgbouncer.ts";

export default async function setup(project: TestProject) {
  const server = process.env.TEST_DATABASE_URL;
  if (!server) throw new Error("the system-pgbouncer project needs PostgreSQL (TEST_DATABASE_URL; npm run test:system)");
  const bouncer = await startPgBouncer(server);
  project.provide("pgbouncerPort", bouncer.port);
  return () => bouncer.stop();
}
