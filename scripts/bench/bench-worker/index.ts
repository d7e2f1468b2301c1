/**
 * The benchmark's own Worker, run by its own `wrangler dev` beside the stack; never deployed.
 *
 * - `POST /`: reads the body and answers a fixed JSON. Whatever latency it shows at 50 clients is
 *   the local stack's (proxy, workerd, the client), not ours: the floor under /ingest/message.
 * - `POST /parse?repeat=N`: parses the body's pipe lines N times (parse-blocks.ts). workerd's
 *   clock stands still while code runs, so the bench reads this process's CPU from /proc around
 *   the request instead, minus a `repeat=0` request that only reads the body.
 */
import { blocksOf, parseBlocks } from "../parse-blocks.ts";

export default {
  async fetch(request: Request): Promise<Response> {
    const url = new URL(request.url);
    if (url.pathname !== "/parse") {
      await request.arrayBuffer();
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
