/**
 * The benchmark's own Worker, run by its own `wrangler dev` beside the stack; never deployed.
 *
 * - `POST /`: reads the body and answers a fixed JSON. Whatever latency it shows at 50 clients is
 *   the local stack's (proxy, workerd, the client), not ours: the floor under /ingest/message.
 *   `?log=1` adds a log line like the service's, `?limit=1` a call to the rate limiting binding:
 *   what wrangler dev's log forwarding and local rate limiter cost a request, apart from our code.
 *   `?neon=1` adds one request to the local Neon endpoint (NEON_ENDPOINT, NEON_DATABASE_URL: set by
 *   the bench), a `SELECT` sent and answered as the service's one-message request is: the floor a
 *   message that must reach the database pays under wrangler dev, whatever code sends it.
 * - `POST /parse?repeat=N`: parses the body's pipe lines N times (parse-blocks.ts). workerd's
 *   clock stands still while code runs, so the bench reads this process's CPU from /proc around
 *   the request instead, minus a `repeat=0` request that only reads the body.
 */
import { blocksOf, parseBlocks } from "../parse-blocks.ts";

interface Env {
  RATE_LIMITER: RateLimit;
  NEON_ENDPOINT?: string;
  NEON_DATABASE_URL?: string;
}

/** The headers the service's prepared request sends (src/db/neon-http.ts). */
const neonHeaders = (env: Env) => ({ "Neon-Connection-String": env.NEON_DATABASE_URL ?? "", "Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true" });

export default {
  async fetch(request: Request, env: Env): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/parse") {
      const body = await request.arrayBuffer();
      if (url.searchParams.has("limit")) await env.RATE_LIMITER.limit({ key: "bench" });
      if (url.searchParams.has("neon")) {
        const query = JSON.stringify({ query: "SELECT $1::int AS bytes", params: [String(body.byteLength)] });
        const answer = await fetch(env.NEON_ENDPOINT ?? "", { method: "POST", body: query, headers: neonHeaders(env) });
        if (!answer.ok) return new Response(await answer.text(), { status: 502 });
        await answer.json();
      }
      if (url.searchParams.has("log")) {
        const line = {
          request_id: crypto.randomUUID(),
          key_id: null,
          method: "POST",
          route: "/",
          status: 200,
          duration_ms: 0,
          bytes: body.byteLength,
          db_ms: 0,
        };
        console.log(JSON.stringify(line));
      }
      return Response.json({ status: "success" });
    }
    const lines = (await request.text()).split("\n").filter((line) => line !== "");
    const blocks = blocksOf(lines);
    const repeat = Number(url.searchParams.get("repeat") ?? "1");
    let rows = 0;
    try {
      for (let i = 0; i < repeat; i++) rows = parseBlocks(blocks);
    } catch (error) {
      return Response.json({ error: String(error) }, { status: 500 });
    }
    return Response.json({ rows });
  },
};
