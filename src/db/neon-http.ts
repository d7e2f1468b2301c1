/**
 * The one-message path's own HTTP request to Neon (preparedHttp): the client's `neon()` request made
 * cheaper, with the client's errors, so NEON_ANSWERS reads them alike.
 */
import { NeonDbError, neonConfig } from "@neondatabase/serverless";

/** A statement's answer as Neon's HTTP API sends it with raw text output: every value a string (or null). */
export interface HttpResult {
  rows: (string | null)[][];
  rowCount: number | null;
}

export interface NeonHttp {
  query(sql: string, params: unknown[], signal: AbortSignal): Promise<HttpResult>;
  /** The statements in one transaction (one request), as sql.transaction sends them. */
  transaction(statements: { query: string; params: unknown[] }[], signal: AbortSignal): Promise<HttpResult[]>;
}

/** What @neondatabase/serverless 1.2 appends to the connection string it sends (index.mjs: resolveConnectionParams). */
const CLIENT_APPLICATION_NAME = "pkg:npm/%40neondatabase/serverless@1.2.0";
/** The fields of Neon's 400 body the client copies onto its NeonDbError (index.mjs: the list before URLFromPgConnectionString). */
const ERROR_FIELDS = [
  "severity",
  "code",
  "detail",
  "hint",
  "position",
  "internalPosition",
  "internalQuery",
  "where",
  "schema",
  "table",
  "column",
  "dataType",
  "constraint",
  "file",
  "line",
  "routine",
] as const;

/**
 * The same HTTP request, and the same errors, as the client's `neon()` (@neondatabase/serverless
 * 1.2.0, index.mjs: `execute`), made cheaper for the one-message path: the client parses the
 * connection string four times with `new URL`, merges its options and builds a type parser for every
 * call; here the string is resolved once per isolate and the values stay Neon's text. Errors are the
 * client's NeonDbError with the client's messages, so classify() and NEON_ANSWERS read them alike.
 * neonConfig's fetchEndpoint and fetchFunction are read per call, as the client reads them.
 */
export function preparedHttp(connectionString: string): NeonHttp {
  const scheme = new URL(connectionString).protocol;
  const url = new URL(`http:${connectionString.slice(scheme.length)}`);
  if (!url.searchParams.has("application_name")) url.searchParams.append("application_name", CLIENT_APPLICATION_NAME);
  const headers = { "Neon-Connection-String": `postgresql:${url.href.slice(url.protocol.length)}`, "Neon-Raw-Text-Output": "true", "Neon-Array-Mode": "true" };
  const { hostname, port } = url;
  const send = async (body: string, signal: AbortSignal): Promise<unknown> => {
    const endpoint = neonConfig.fetchEndpoint;
    const target = typeof endpoint === "function" ? endpoint(hostname, port, { jwtAuth: false }) : endpoint;
    let response: Response;
    try {
      response = await (neonConfig.fetchFunction ?? fetch)(target, { method: "POST", body, headers, signal });
    } catch (error) {
      const failed = new NeonDbError(`Error connecting to database: ${error}`);
      failed.sourceError = error as Error;
      throw failed;
    }
    if (response.ok) return response.json();
    if (response.status !== 400) throw new NeonDbError(`Server error (HTTP status ${response.status}): ${await response.text()}`);
    const fields = (await response.json()) as Record<string, string | undefined>;
    const error = new NeonDbError(fields.message ?? "");
    for (const field of ERROR_FIELDS) (error as unknown as Record<string, unknown>)[field] = fields[field] ?? undefined;
    throw error;
  };
  return {
    query: async (query, params, signal) => (await send(JSON.stringify({ query, params }), signal)) as HttpResult,
    async transaction(statements, signal) {
      const answer = (await send(JSON.stringify({ queries: statements }), signal)) as { results?: unknown };
      if (!Array.isArray(answer.results)) throw new NeonDbError("Neon internal error: unexpected result format");
      return answer.results as HttpResult[];
    },
  };
}
