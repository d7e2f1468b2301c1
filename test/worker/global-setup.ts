/** Starts the local Neon endpoint the Worker under test talks to, over a fresh database. */
import type { TestProject } from "vitest/node";
import { startLocalNeon } from "../../scripts/local-neon/start.ts";
import { freshDatabase } from "../support/database.ts";

export default async function setup(project: TestProject) {
  const endpoint = project.config.env?.NEON_FETCH_ENDPOINT;
  if (!endpoint) throw new Error("vitest.config.ts sets NEON_FETCH_ENDPOINT for the worker project");
  const port = Number(new URL(endpoint).port);
  const local = await startLocalNeon({ databaseUrl: await freshDatabase("nomnom_test_worker"), port, faults: true });
  console.log(`[worker tests] local Neon endpoint ${local.url} over ${local.db.kind}`);
  return () => local.close();
}
