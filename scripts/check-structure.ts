/**
 * npm run check:structure: the shape rules of src/ that Biome cannot see (run by `npm test`).
 *   1. No cycle between units. A unit is a top-level entry of src/: a folder, or a file directly in
 *      src/ (a unit of its own). An import of unit B from a file of unit A is an edge A -> B; `import
 *      type`, `export … from` and `import("…")` count: a type import is still a dependency, and a
 *      cycle through types is one a later change turns into a cycle of values. Biome bans file
 *      cycles; this bans folder cycles.
 *   2. No file in src/ over 300 lines.
 *   3. No function over 80 lines (declarations, methods, accessors, constructors, arrow functions and
 *      function expressions, counted from the function's first line to its last).
 * src/generated/ is exempt from 2 and 3: it is written by scripts/build-entities.ts from entities/
 * (its length follows the YAML: one parser and one table per entity), never edited by hand, and
 * checked for staleness on its own. It still counts as a unit for rule 1.
 * The parser is the project's TypeScript 7 (the native compiler) through its API: one tsgo process
 * reads root/tsconfig.json, whose program must include every file of src/.
 *   node scripts/check-structure.ts [root]   check root/src (default: this repository); exit 1 on a violation
 */
import { readdirSync, readFileSync, statSync } from "node:fs";
import { dirname, join, relative, resolve, sep } from "node:path";
import {
  isArrowFunction,
  isCallExpression,
  isClassLikeDeclaration,
  isConstructorDeclaration,
  isExportDeclaration,
  isFunctionDeclaration,
  isFunctionExpression,
  isGetAccessorDeclaration,
  isImportDeclaration,
  isImportTypeNode,
  isLiteralTypeNode,
  isMethodDeclaration,
  isPropertyAssignment,
  isPropertyDeclaration,
  isSetAccessorDeclaration,
  isStringLiteral,
  isVariableDeclaration,
  type Node,
  type SourceFile,
  SyntaxKind,
} from "typescript/unstable/ast";
import { API } from "typescript/unstable/sync";

export const MAX_FILE_LINES = 300;
export const MAX_FUNCTION_LINES = 80;
/** Exempt from the length rules (generated; see the role comment). Relative to src/. */
const GENERATED = "generated";

/** One import that crosses units: the file, the unit it is in, the unit it reaches. */
export interface UnitEdge {
  from: string;
  to: string;
  file: string;
  specifier: string;
}
export interface UnitCycle {
  /** The units of the cycle, in order; the last imports the first. */
  units: string[];
  /** The imports that make each step of the cycle (every file, not only the first). */
  edges: UnitEdge[];
}
export interface LongFile {
  file: string;
  lines: number;
}
export interface LongFunction {
  file: string;
  name: string;
  line: number;
  lines: number;
}
export interface StructureReport {
  cycles: UnitCycle[];
  longFiles: LongFile[];
  longFunctions: LongFunction[];
}

const isSource = (name: string) => /\.(ts|tsx|mts|js|mjs)$/.test(name);

/** Every source file under dir, as paths relative to src (forward slashes). */
function sourceFiles(src: string, dir = src): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir).sort()) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) out.push(...sourceFiles(src, path));
    else if (isSource(name)) out.push(relative(src, path).split(sep).join("/"));
  }
  return out;
}

/** The unit of a path relative to src/: its first segment (a folder, or the file itself). */
const unitOf = (path: string) => path.split("/")[0];

/** The relative module specifiers a file imports or re-exports (values and types alike). */
function specifiers(source: SourceFile): string[] {
  const out: string[] = [];
  const visit = (node: Node): undefined => {
    if ((isImportDeclaration(node) || isExportDeclaration(node)) && node.moduleSpecifier && isStringLiteral(node.moduleSpecifier)) {
      out.push(node.moduleSpecifier.text);
    } else if (isImportTypeNode(node) && isLiteralTypeNode(node.argument) && isStringLiteral(node.argument.literal)) {
      out.push(node.argument.literal.text);
    } else if (isCallExpression(node) && node.expression.kind === SyntaxKind.ImportKeyword && node.arguments[0] && isStringLiteral(node.arguments[0])) {
      out.push(node.arguments[0].text);
    }
    node.forEachChild(visit);
  };
  visit(source);
  return out.filter((s) => s.startsWith("."));
}

/** The name a function is known by: its own, or the variable, property or class member it is bound to. */
function functionName(node: Node & { name?: Node }, source: SourceFile): string {
  if (isConstructorDeclaration(node)) return `${className(node)}constructor`;
  if (node.name) return `${className(node)}${node.name.getText(source)}`;
  const parent = node.parent;
  if ((isVariableDeclaration(parent) || isPropertyAssignment(parent) || isPropertyDeclaration(parent)) && parent.name) {
    return parent.name.getText(source);
  }
  if (isCallExpression(parent)) return `(callback of ${parent.expression.getText(source).slice(0, 40)})`;
  return "(anonymous)";
}

const className = (node: Node) => (isClassLikeDeclaration(node.parent) && node.parent.name ? `${node.parent.name.getText()}.` : "");

/** Functions over the limit in one file. */
function longFunctions(file: string, source: SourceFile): LongFunction[] {
  const out: LongFunction[] = [];
  const visit = (node: Node): undefined => {
    if (
      isFunctionDeclaration(node) ||
      isMethodDeclaration(node) ||
      isArrowFunction(node) ||
      isFunctionExpression(node) ||
      isConstructorDeclaration(node) ||
      isGetAccessorDeclaration(node) ||
      isSetAccessorDeclaration(node)
    ) {
      if (node.body) {
        const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
        const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = last - first + 1;
        if (lines > MAX_FUNCTION_LINES) out.push({ file, name: functionName(node, source), line: first + 1, lines });
      }
    }
    node.forEachChild(visit);
  };
  visit(source);
  return out;
}

/** Strongly connected components of the unit graph with more than one unit (Tarjan). */
function components(units: string[], next: Map<string, Set<string>>): string[][] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: string[][] = [];
  const connect = (unit: string) => {
    index.set(unit, index.size);
    low.set(unit, index.get(unit) as number);
    stack.push(unit);
    onStack.add(unit);
    for (const to of next.get(unit) ?? []) {
      if (!index.has(to)) {
        connect(to);
        low.set(unit, Math.min(low.get(unit) as number, low.get(to) as number));
      } else if (onStack.has(to)) low.set(unit, Math.min(low.get(unit) as number, index.get(to) as number));
    }
    if (low.get(unit) === index.get(unit)) {
      const component: string[] = [];
      let top: string;
      do {
        top = stack.pop() as string;
        onStack.delete(top);
        component.push(top);
      } while (top !== unit);
      if (component.length > 1) out.push(component.sort());
    }
  };
  for (const unit of units) if (!index.has(unit)) connect(unit);
  return out;
}

/** Every elementary cycle inside one component, each once (started at its smallest unit). */
function cyclesIn(component: string[], next: Map<string, Set<string>>): string[][] {
  const inside = new Set(component);
  const out: string[][] = [];
  for (const start of component) {
    const walk = (path: string[]) => {
      for (const to of [...(next.get(path[path.length - 1]) ?? [])].sort()) {
        if (!inside.has(to) || to < start) continue;
        if (to === start) out.push([...path]);
        else if (!path.includes(to)) walk([...path, to]);
      }
    };
    walk([start]);
  }
  return out;
}

/** One file's imports of other units, and its length violations. */
function checkFile(src: string, file: string, text: string, source: SourceFile, found: Found) {
  const from = unitOf(file);
  for (const specifier of specifiers(source)) {
    const target = relative(src, resolve(dirname(join(src, file)), specifier))
      .split(sep)
      .join("/");
    if (target.startsWith("..")) continue; // outside src/: not a unit
    const to = unitOf(target);
    // One edge per (file, specifier): `import type` and `import` of one module are one dependency.
    const seen = found.edges.some((e) => e.file === `src/${file}` && e.specifier === specifier);
    if (from !== to && !seen) found.edges.push({ from, to, file: `src/${file}`, specifier });
  }
  if (from === GENERATED) return;
  const lines = text.endsWith("\n") ? text.split("\n").length - 1 : text.split("\n").length;
  if (lines > MAX_FILE_LINES) found.longFiles.push({ file: `src/${file}`, lines });
  found.functions.push(...longFunctions(`src/${file}`, source));
}

interface Found {
  edges: UnitEdge[];
  longFiles: LongFile[];
  functions: LongFunction[];
}

/** Checks root/src against the three rules. */
export function checkStructure(root: string): StructureReport {
  const src = join(root, "src");
  const edges: UnitEdge[] = [];
  const longFiles: LongFile[] = [];
  const functions: LongFunction[] = [];
  const api = new API({ cwd: root });
  try {
    const project = api.updateSnapshot({ openProjects: [join(root, "tsconfig.json")] }).getProjects()[0];
    for (const file of sourceFiles(src)) {
      const source = project?.program.getSourceFile(join(src, file));
      if (!source) throw new Error(`check-structure: src/${file} is not in the program of ${join(root, "tsconfig.json")}`);
      checkFile(src, file, readFileSync(join(src, file), "utf8"), source, { edges, longFiles, functions });
    }
  } finally {
    api.close();
  }
  const next = new Map<string, Set<string>>();
  for (const edge of edges) next.set(edge.from, (next.get(edge.from) ?? new Set()).add(edge.to));
  const units = [...new Set(sourceFiles(src).map(unitOf))].sort();
  const cycles: UnitCycle[] = [];
  for (const component of components(units, next)) {
    for (const cycle of cyclesIn(component, next)) {
      const steps = cycle.map((from, i) => [from, cycle[(i + 1) % cycle.length]]);
      cycles.push({ units: cycle, edges: steps.flatMap(([from, to]) => edges.filter((e) => e.from === from && e.to === to)) });
    }
  }
  return { cycles, longFiles, longFunctions: functions };
}

/** The report as people read it: one block per cycle, one line per long file or function. */
export function formatReport(report: StructureReport): string {
  const out: string[] = [];
  for (const cycle of report.cycles) {
    out.push(`cycle between units: ${[...cycle.units, cycle.units[0]].join(" -> ")}`);
    for (const edge of cycle.edges) out.push(`  ${edge.from} -> ${edge.to}: ${edge.file} imports "${edge.specifier}"`);
  }
  for (const file of report.longFiles) out.push(`file over ${MAX_FILE_LINES} lines: ${file.file} has ${file.lines} lines`);
  for (const fn of report.longFunctions) {
    out.push(`function over ${MAX_FUNCTION_LINES} lines: ${fn.name} in ${fn.file}:${fn.line} has ${fn.lines} lines`);
  }
  return out.join("\n");
}

export const violations = (report: StructureReport) => report.cycles.length + report.longFiles.length + report.longFunctions.length;

if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const report = checkStructure(resolve(process.argv[2] ?? join(import.meta.dirname, "..")));
  const count = violations(report);
  if (count > 0) {
    console.error(formatReport(report));
    console.error(`check-structure: ${count} violation(s) in src/`);
    process.exit(1);
  }
  console.log("check-structure: no unit cycle, no file over 300 lines, no function over 80 lines in src/");
}
