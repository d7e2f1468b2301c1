/**
 * Where a path's time goes: CPU seconds per role of the stack, and workerd's memory, read from
 * /proc while the path runs. `wrangler dev` runs two workerd processes, the Worker and a proxy in
 * front of it on the dev port that production does not have: they are told apart. Sampling every
 * 100 ms, rather than reading once at the end, keeps the CPU of processes that exit meanwhile
 * (psql and its backend) and catches workerd's peak memory.
 */
import { readdirSync, readFileSync } from "node:fs";

export const ROLES = ["worker", "proxy", "wrangler", "endpoint", "postgres", "client"] as const;
export type Role = (typeof ROLES)[number];

export interface Usage {
  cpuSeconds: Record<Role, number>;
  /** Peak resident memory of each workerd process minus what it held when the path started. */
  rssGrowthMb: { worker: number; proxy: number };
}

export interface Watched {
  /** The stack's process (`scripts/dev.ts`: the local Neon endpoint); its descendants are wrangler and workerd. */
  stackPid: number;
  /** wrangler dev's port: the workerd listening on it is the proxy. */
  port: number;
  /** PostgreSQL backends connected to this database count as "postgres" (none if absent). */
  database?: string;
}

interface Proc {
  pid: number;
  ppid: number;
  comm: string;
  cpuTicks: number;
  rssPages: number;
}

interface Sample {
  role: Role;
  cpuTicks: number;
  rssPages: number;
}

// USER_HZ and the page size are fixed by the kernel ABI on x86-64 and arm64 Linux.
const TICKS_PER_SECOND = 100;
const PAGE_BYTES = 4096;
const SAMPLE_MS = 100;

function readFile(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined; // the process exited between listing /proc and reading it
  }
}

function readProc(pid: number): Proc | undefined {
  const stat = readFile(`/proc/${pid}/stat`);
  if (stat === undefined) return undefined;
  // The command name is in parentheses and may hold spaces: fields are counted after the last ")".
  const close = stat.lastIndexOf(")");
  const f = stat.slice(close + 2).split(" ");
  // f[n - 3] is field n of proc(5): 4 ppid, 14 utime, 15 stime, 24 rss.
  return { pid, ppid: Number(f[1]), comm: stat.slice(stat.indexOf("(") + 1, close), cpuTicks: Number(f[11]) + Number(f[12]), rssPages: Number(f[21]) };
}

const listProcs = () =>
  readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map((name) => readProc(Number(name)))
    .filter((p) => p !== undefined);

function descendantsIn(procs: Proc[], pid: number): Proc[] {
  const children = Map.groupBy(procs, (p) => p.ppid);
  const out: Proc[] = [];
  const below = [pid];
  for (let parent = below.pop(); parent !== undefined; parent = below.pop()) {
    for (const child of children.get(parent) ?? []) {
      out.push(child);
      below.push(child.pid);
    }
  }
  return out;
}

/** The pids of every process below `pid`. */
export const descendants = (pid: number): number[] => descendantsIn(listProcs(), pid).map((p) => p.pid);

/**
 * The stack that a workerd of `wrangler dev` belongs to: the `scripts/dev.ts` process above it,
 * or wrangler's own process when the stack was started some other way.
 */
export function stackOf(workerdPid: number): number {
  const wrangler = readProc(workerdPid)?.ppid;
  if (wrangler === undefined) throw new Error(`process ${workerdPid} is gone`);
  for (let pid = wrangler; pid > 1; pid = readProc(pid)?.ppid ?? 1) {
    if (readFile(`/proc/${pid}/cmdline`)?.includes("scripts/dev.ts")) return pid;
  }
  return wrangler;
}

/** Every process of interest, with its role. */
function sample(watched: Watched): Map<number, Sample> {
  const procs = listProcs();
  const roles = new Map<number, Role>([
    [watched.stackPid, "endpoint"],
    [process.pid, "client"],
  ]);
  // The proxy's entry socket is on the dev port, whatever the host (127.0.0.1, localhost).
  const proxySocket = new RegExp(`--socket-addr=entry=[^\\0]*:${watched.port}\\0`);
  for (const p of descendantsIn(procs, watched.stackPid)) {
    roles.set(p.pid, p.comm !== "workerd" ? "wrangler" : proxySocket.test(readFile(`/proc/${p.pid}/cmdline`) ?? "") ? "proxy" : "worker");
  }
  // Our other children are psql, loading the COPY baseline.
  for (const p of procs) if (p.ppid === process.pid && !roles.has(p.pid)) roles.set(p.pid, "client");
  // A backend's command line is its process title: "postgres: user database host(port) state".
  if (watched.database)
    for (const p of procs) if (p.comm === "postgres" && readFile(`/proc/${p.pid}/cmdline`)?.includes(` ${watched.database} `)) roles.set(p.pid, "postgres");
  return new Map(procs.filter((p) => roles.has(p.pid)).map((p) => [p.pid, { role: roles.get(p.pid)!, cpuTicks: p.cpuTicks, rssPages: p.rssPages }]));
}

const rssOf = (samples: Map<number, Sample>, role: Role) => [...samples.values()].reduce((sum, s) => sum + (s.role === role ? s.rssPages : 0), 0);

/** Starts sampling; `stop` returns what each role used since. */
export function monitor(watched: Watched): { stop(): Usage } {
  const first = sample(watched);
  const last = new Map(first);
  const before = { worker: rssOf(first, "worker"), proxy: rssOf(first, "proxy") };
  const peak = { ...before };
  const take = () => {
    const now = sample(watched);
    for (const [pid, s] of now) last.set(pid, s);
    peak.worker = Math.max(peak.worker, rssOf(now, "worker"));
    peak.proxy = Math.max(peak.proxy, rssOf(now, "proxy"));
  };
  // unref: a path that throws must not leave the sampler keeping the process alive.
  const timer = setInterval(take, SAMPLE_MS).unref();
  return {
    stop() {
      clearInterval(timer);
      take();
      const cpuSeconds = Object.fromEntries(ROLES.map((role) => [role, 0])) as Record<Role, number>;
      // A process started during the path (a new backend, psql) used all its CPU during it.
      for (const [pid, s] of last) cpuSeconds[s.role] += (s.cpuTicks - (first.get(pid)?.cpuTicks ?? 0)) / TICKS_PER_SECOND;
      const growthMb = (role: "worker" | "proxy") => ((peak[role] - before[role]) * PAGE_BYTES) / 2 ** 20;
      return { cpuSeconds, rssGrowthMb: { worker: growthMb("worker"), proxy: growthMb("proxy") } };
    },
  };
}
