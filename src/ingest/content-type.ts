/** Which body format a request carries, from its Content-Type. */
import { IngestError } from "../errors.ts";
import type { BodyFormat } from "./parsed-body.ts";

const FORMATS: Record<string, BodyFormat> = {
  "text/plain": "text",
  "application/json": "json",
  "application/x-ndjson": "ndjson",
  "application/ndjson": "ndjson",
  "application/jsonl": "ndjson",
};

/** A missing Content-Type means pipe-delimited text, as `curl --data-binary` users expect from the seed. */
export function bodyFormat(contentType: string | null | undefined): BodyFormat {
  if (!contentType) return "text";
  const [media, ...params] = contentType.split(";").map((s) => s.trim().toLowerCase());
  const format = FORMATS[media];
  if (!format) {
    throw new IngestError(
      "unsupported_media_type",
      `Content-Type ${media} is not accepted: use text/plain (pipe-delimited lines), application/json or application/x-ndjson`,
    );
  }
  const charset = params
    .find((p) => p.startsWith("charset="))
    ?.slice(8)
    .replace(/"/g, "");
  if (charset && charset !== "utf-8" && charset !== "utf8" && charset !== "us-ascii") {
    throw new IngestError("unsupported_media_type", `charset ${charset} is not accepted: send UTF-8`);
  }
  return format;
}
