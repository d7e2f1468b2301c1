/**
 * The README's local examples, run as written against `npm run dev` on a fresh database: every
 * command in a ```sh local block, each answer checked against the `# …` lines under it. So the
 * README cannot promise a file, a command or an answer the project does not have.
 */
import { execSync } from "node:child_process";
import { readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type DevStack, root, startDevStack } from "../support/dev-stack.ts";
import { freePorts } from "../support/free-port.ts";

const README = join(root, "README.md");
const DOCUMENTED_PORT = 8080;
// Free ports, so that two runs can hold a stack each at once; the examples' documented port is rewritten to PORT.
const [PORT, NEON_PORT] = await freePorts(2);
/** A documented value that varies from run to run (ids, times): any value matches. */
const ANY = "…";

interface Example {
  command: string;
  answer: string[];
}

/** Commands of the ```sh local blocks, each with the `# ` lines that follow it. */
function localExamples(markdown: string): Example[] {
  const examples: Example[] = [];
  for (const [, body] of markdown.matchAll(/^```sh local\n([\s\S]*?)^```$/gm)) {
    for (const line of body.split("\n").filter(Boolean)) {
      if (line.startsWith("# ")) examples.at(-1)!.answer.push(line.slice(2));
      else examples.push({ command: line, answer: [] });
    }
  }
  return examples;
}

/** Server-Sent Events as [event, data] pairs. */
function events(lines: string[]): [string, string][] {
  const out: [string, string][] = [];
  let event = "message";
  for (const line of lines) {
    if (line.startsWith("event: ")) event = line.slice(7);
    else if (line.startsWith("data: ")) out.push([event, line.slice(6)]);
  }
  return out;
}

/** The documented JSON with every "…" replaced by a matcher of anything, for toMatchObject. */
function documented(value: unknown): unknown {
  if (value === ANY) return expect.anything();
  if (Array.isArray(value)) return value.map(documented);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, documented(v)]));
  return value;
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

function checkAnswer(example: Example, output: string) {
  const expected = example.answer;
  if (expected[0]?.startsWith("event: ")) {
    const actual = events(output.split("\n"));
    for (const [event, data] of events(expected)) {
      const last = actual.filter(([name]) => name === event).at(-1);
      expect(last, `no ${event} event in:\n${output}`).toBeDefined();
      expect(JSON.parse(last![1])).toMatchObject(documented(JSON.parse(data)) as object);
    }
  } else if (expected[0]?.startsWith("{")) {
    expect(JSON.parse(output)).toMatchObject(documented(JSON.parse(expected.join(""))) as object);
  } else {
    const pattern = expected.map((line) => line.split(ANY).map(escapeRegExp).join(".+")).join("\n");
    expect(output.trim()).toMatch(new RegExp(`^${pattern}$`));
  }
}

const markdown = readFileSync(README, "utf8");
const examples = localExamples(markdown);

describe("the README", () => {
  it("stays a short guide: under 13 KB", () => {
    // 12 KB until the entity reference, npm run sql, the dev ports and reset-project had to be findable from it.
    expect(statSync(README).size).toBeLessThan(13 * 1024);
  });

  it("documents an answer for every local example, and every file they post exists", () => {
    expect(examples.length).toBeGreaterThanOrEqual(10);
    for (const example of examples) {
      expect(example.answer, example.command).not.toEqual([]);
      for (const [, file] of example.command.matchAll(/@(?!-)(\S+)/g)) expect(() => statSync(join(root, file)), file).not.toThrow();
    }
  });

  it("links only docs/ files that exist, besides docs/changing-entities.md", () => {
    const links = [...markdown.matchAll(/\]\((docs\/[^)#]+)\)/g)].map(([, path]) => path);
    expect(links).toEqual(expect.arrayContaining(["docs/benchmarks.md", "docs/reliability.md", "docs/architecture.md"]));
    for (const path of links.filter((p) => p !== "docs/changing-entities.md")) expect(() => statSync(join(root, path)), path).not.toThrow();
  });
});

describe("the README's local examples, run against npm run dev", () => {
  let stack: DevStack;
  beforeAll(async () => {
    // The project itself: the README documents the user's entities (the demo's, or the starter's after npm run reset-project).
    stack = await startDevStack({ port: PORT, neonPort: NEON_PORT, database: "nomnom_test_readme", root });
  });
  afterAll(() => stack.stop());

  // In order: later answers (duplicates) depend on earlier commands.
  for (const [i, example] of examples.entries()) {
    it(`${i + 1}: ${example.command.slice(0, 90)}`, () => {
      const command = example.command.replaceAll(`localhost:${DOCUMENTED_PORT}`, `localhost:${PORT}`);
      const output = execSync(command, { cwd: root, shell: "/bin/bash", encoding: "utf8", stdio: ["ignore", "pipe", "pipe"], timeout: 60_000 });
      checkAnswer(example, output);
    });
  }
});
