import { Client } from "@neondatabase/serverless";
import { from as copyFrom } from "pg-copy-streams";
import { localConnectionString, startLocalNeon } from "./local-neon/start.ts";

const local = await startLocalNeon({ databaseUrl: "postgres://postgres@127.0.0.1:5432/helper_copy", migrate: false, faults: true });
const c = new Client(localConnectionString("x"));
c.neonConfig.wsProxy = local.wsProxy!;
c.neonConfig.useSecureWebSocket = false;
c.neonConfig.pipelineConnect = false;
c.on("error", (e) => console.log("client error", e.message));
c.on("end", () => console.log("client end"));
await c.connect();
await c.query("DROP TABLE IF EXISTS tt; CREATE TABLE tt (a int primary key, b text)");
await fetch(local.url.replace("/sql", "/__faults"), { method: "POST", body: JSON.stringify({ fault: "connection_lost", times: 1 }) });
await c.query("BEGIN");
const s = c.query(copyFrom("COPY tt (a, b) FROM STDIN"));
const r = await Promise.race([
  new Promise((res, rej) => {
    s.on("finish", res);
    s.on("error", rej);
    s.end(Buffer.from("1\tx\n"));
  }).then(
    () => "ok",
    (e) => "err " + e.message,
  ),
  new Promise((r) => setTimeout(() => r("timeout"), 3000)),
]);
console.log(r);
process.exit(0);
