/**
 * npm run reset-project: turns the demo into your own project, as Expo's `npm run reset-project` does
 * for its example app. It asks nothing. It removes the demo entities (TPC-H), every generated
 * migration with its snapshot, the generated code, the README examples' demo files and .data/, keeps
 * the service's own hand-written migrations (renumbered from 0001, in their order), writes one
 * commented starter entity and its README examples, and builds, so that `npm run dev` and `npm test`
 * work at once.
 *
 * It refuses once the project's migrations reached a database outside this machine: `npm run migrate`
 * records each such database in migrations/meta/databases.json (scripts/applied-databases.ts).
 * PGlite in .data/ and the local Neon endpoint are made on this machine and are not recorded.
 */
import { execFileSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { appliedDatabases } from "./applied-databases.ts";
import { devDatabaseSettings, runningEndpoint } from "./dev-database.ts";

const root = resolve(import.meta.dirname, "..");
const at = (...path: string[]) => join(root, ...path);
const pad = (n: number) => String(n).padStart(4, "0");

const STARTER_LINES = `${Array.from({ length: 10 }, (_, i) => `E|evt-${100 + i}|${["created", "updated", "deleted"][i % 3]}|${10 + i}.50|2026-01-0${1 + (i % 9)}T00:00:00Z|line ${i + 1}`).join("\n")}\n`;
const STARTER_NDJSON = [
  `{"entity":"Event","event_id":"evt-200","kind":"created","amount":"99.99","happened_at":"2026-02-01T10:00:00Z"}`,
  `{"entity":"Event","event_id":"evt-201","kind":"updated","amount":12,"happened_at":"2026-02-01T11:00:00Z","note":"JSON numbers work too"}`,
  `{"event_id":"evt-202","kind":"deleted","happened_at":"2026-02-01T12:00:00+02:00"}`,
  "",
].join("\n");
/** examples/client.mjs for the starter entity (the README runs it). */
const STARTER_CLIENT = `// nomnom-edge/client in a few lines: 1,000 events, sent as 2 batches by one close(). Usage: node examples/client.mjs [URL]
import { NomnomClient } from "nomnom-edge/client";

const client = new NomnomClient({ url: process.argv[2] ?? "http://localhost:8080", onRejected: (record, error) => console.error(error.message, record) });
for (let i = 1; i <= 1000; i++) client.send("Event", { event_id: \`client-\${i}\`, kind: "created", happened_at: "2026-01-02T03:04:05Z" });
const { sent, inserted, duplicates, rejected } = await client.close();
console.log(JSON.stringify({ sent, inserted, duplicates, rejected }));
`;
/** The README's examples for the starter entity: test/node/readme.test.ts runs them as it ran the demo's. */
const STARTER_README = `\`\`\`sh local
curl -s localhost:8080/ingest/message -H "Content-Type: text/plain" -d "E|evt-1|created|12.50|2026-01-02T03:04:05Z|hello"
# {"status":"success","entity":"Event","id":1,"timestamp":"…"}
curl -s localhost:8080/ingest/message -H "Content-Type: application/json" -d '{"entity":"Event","event_id":"evt-2","kind":"updated","happened_at":"2026-01-02T04:00:00Z"}'
# {"status":"success","entity":"Event","id":2,"timestamp":"…"}
curl -s localhost:8080/ingest/batch -H "Content-Type: text/plain" --data-binary @examples/events.txt
# {"status":"success","processed":10,"inserted":10,"duplicates":0,"failed":0,"errors":[],"entities":{"Event":{"inserted":10,"duplicates":0,"failed":0}}}
curl -s localhost:8080/ingest/batch -H "Content-Type: text/plain" --data-binary @examples/events.txt
# {"status":"success","processed":10,"inserted":0,"duplicates":10,"failed":0}
curl -s localhost:8080/ingest/batch -H "Content-Type: application/x-ndjson" --data-binary @examples/events.ndjson
# {"status":"success","processed":3,"inserted":3,"failed":0}
curl -s localhost:8080/ingest/message -H "Content-Type: text/plain" -d "E|evt-3|exploded||2026-01-02T03:04:05Z"
# {"status":"error","code":"invalid_message","message":"field 2 'kind' must be one of created, updated, deleted, got \\"exploded\\"","field":"kind","position":2}
curl -s localhost:8080/ingest/message -H "Content-Type: text/plain" -d "X|1"
# {"status":"error","code":"invalid_message","message":"unknown prefix \\"X\\" (known: E)","entity":null,"line":"X|1"}
printf 'E|evt-4|created|1.00|2026-01-03T00:00:00Z\\nE|evt-5|created|1.001|2026-01-03T00:00:00Z\\n' | curl -s localhost:8080/ingest/batch -H "Content-Type: text/plain" --data-binary @-
# {"status":"partial","processed":2,"inserted":1,"failed":1,"errors":[{"line_number":2,"entity":"Event","field":"amount","position":3,"message":"field 3 'amount' must be a decimal with at most 10 digits before and 2 after the point, got \\"1.001\\""}]}
npx nomnom ingest examples/events.txt --url http://localhost:8080
# success: 10 lines, 0 inserted, 10 duplicates, 0 failed in … s
curl -s localhost:8080/health
# {"status":"ok","database":"ok"}
\`\`\`

`;

const DEMO_ENTITIES = ["customer.yaml", "order.yaml", "order_line_item.yaml", "product.yaml"];
const DEMO_EXAMPLES = ["messages.txt", "order.json", "catalog.ndjson", "make-lines.mjs"];
const GENERATED = ["registry.ts", "tables.ts", "schemas.ts"];

const databases = appliedDatabases(at("migrations"));
if (databases.length > 0) {
  console.error(
    `npm run reset-project: refused. migrations/meta/databases.json records that ${databases.map((d) => `${d.database} (at ${d.migration})`).join(", ")} applied this project's migrations (npm run migrate wrote it): ` +
      "resetting would leave those databases with a history this project no longer has. Change the entities with npm run build instead (docs/changing-entities.md).",
  );
  process.exit(1);
}

// .data/ goes: a running npm run dev would lose its database under it.
const running = runningEndpoint(devDatabaseSettings().pgliteDir);
if (running) {
  console.error(`npm run reset-project: npm run dev is running (process ${running.pid}): stop it (Ctrl-C), then run this again.`);
  process.exit(1);
}

const removed: string[] = [];
const remove = (path: string) => {
  if (!existsSync(at(path))) return;
  rmSync(at(path), { recursive: true, force: true });
  removed.push(path);
};

for (const file of DEMO_ENTITIES) remove(`entities/${file}`);
const ownEntities = readdirSync(at("entities")).filter((f) => /\.ya?ml$/.test(f));

// A generated migration has a snapshot of the same number; the others are the service's own tables.
const meta = at("migrations/meta");
const sqlFiles = readdirSync(at("migrations"))
  .filter((f) => /^\d{4}_.*\.sql$/.test(f))
  .sort();
const handWritten: string[] = [];
for (const file of sqlFiles) {
  const snapshot = `migrations/meta/${file.slice(0, 4)}_snapshot.json`;
  if (existsSync(at(snapshot))) {
    remove(`migrations/${file}`);
    remove(snapshot);
  } else {
    handWritten.push(file);
  }
}
// Renumbered from 0001 in their order: the journal is written again by the build below.
handWritten.forEach((file, i) => {
  const renamed = `${pad(i + 1)}${file.slice(4)}`;
  if (renamed !== file) renameSync(at("migrations", file), at("migrations", renamed));
});
remove("migrations/meta/_journal.json");
if (!existsSync(meta)) removed.push("(migrations/meta is recreated by the build)");

for (const file of GENERATED) remove(`src/generated/${file}`);
for (const file of DEMO_EXAMPLES) remove(`examples/${file}`);
remove(".data");

if (ownEntities.length === 0) {
  writeFileSync(at("entities/event.yaml"), STARTER_ENTITY());
  writeFileSync(at("examples/events.txt"), STARTER_LINES);
  writeFileSync(at("examples/events.ndjson"), STARTER_NDJSON);
  writeFileSync(at("examples/client.mjs"), STARTER_CLIENT);
  const readme = readFileSync(at("README.md"), "utf8");
  const start = readme.indexOf("```sh local\n");
  const end = readme.indexOf("### Command-line client");
  // The examples, and the deploy step's smoke test, send the starter's lines instead of the demo's.
  const smokeTest = (text: string) =>
    text
      .replaceAll(`"O|1|100|O|123.45|1996-01-02|5-LOW|Clerk#000000951|0|test"`, `"E|evt-1|created|12.50|2026-01-02T03:04:05Z|hello"`)
      .replace(/client\.send\("Order", \{[^\n]*\}\);/, `client.send("Event", { event_id: "evt-9", kind: "created", happened_at: "2026-01-02T03:04:05Z" });`);
  if (start !== -1 && end > start) writeFileSync(at("README.md"), smokeTest(readme.slice(0, start) + STARTER_README + readme.slice(end)));
  else console.log("README.md: its examples section was not found, so it was left as it is; its examples are the demo's.");
}

const build = execFileSync(process.execPath, [at("scripts/build-entities.ts")], { cwd: root, encoding: "utf8" });
console.log(`Removed:\n${removed.map((p) => `  ${p}`).join("\n")}`);
if (handWritten.length > 0)
  console.log(`Kept the service's own migrations, renumbered: ${handWritten.map((f, i) => `${f} → ${pad(i + 1)}${f.slice(4)}`).join(", ")}`);
console.log(
  ownEntities.length === 0
    ? "Wrote entities/event.yaml (a starter entity), examples/events.txt, examples/events.ndjson, examples/client.mjs and README examples for it."
    : `Kept your entities: ${ownEntities.join(", ")}`,
);
console.log(build.trim());
console.log(
  `Next: edit entities/event.yaml (docs/entities.md), then \`npm run build -- --discard-unapplied && npm run build\` to make its migration again from scratch (until a database has applied it), and \`npm run dev\`.`,
);

function STARTER_ENTITY(): string {
  return `# A starter entity: rename it, change it, or replace this file with your own (the format: docs/entities.md).
# Until a database has applied its migration, \`npm run build -- --discard-unapplied\` then \`npm run build\`
# makes the migration again from the changed YAML; after that, changes become new migrations
# (docs/changing-entities.md).
#
# Pipe form: E|event_id|kind|amount|happened_at|note
# JSON form: {"entity":"Event","event_id":"evt-1","kind":"created","amount":"12.50","happened_at":"2026-01-02T03:04:05Z"}
entity:
  name: Event
  prefix: "E"                # the first field of a pipe line
  doc: "Something that happened"
  fields:
    - { name: event_id, type: String, doc: "Identifies the event: sent twice, it is stored once" }
    - name: kind
      type: String
      constraints: { enum: [created, updated, deleted] }
    - name: amount
      type: Decimal            # exact; numeric(12, 2) in the table
      nullable: true
      constraints: { precision: 12, scale: 2 }
    - { name: happened_at, type: DateTime }
    - { name: note, type: String, nullable: true }
  persistence:
    database:
      conformant_table: events
      unicity_fields: [event_id]    # the natural key: retries insert nothing twice
`;
}
