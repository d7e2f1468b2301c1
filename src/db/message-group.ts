/**
 * Group commit of single messages: concurrent /ingest/message writes of one entity in one isolate go
 * to Neon as one statement (the entity's insertGroupSql), each answered with its own row's id, its
 * own duplicate flag and its own error. A Worker pays for every subrequest (the fetch and its JSON
 * answer were most of a message's CPU, docs/benchmarks.md); under load, one carries many messages.
 *
 * No statement waits for company: a message goes at once while fewer than MAX_FLIGHTS statements of
 * its entity are in flight; the ones that arrive meanwhile leave together with the next.
 *
 * What Workers allow (tested in workerd, test/worker/message-group.test.ts): a request may not use
 * another request's I/O objects, so each statement's fetch is made, awaited and read by one request,
 * one whose message it carries (the leader); the others await the promise the leader's own code made and settles,
 * which carries no I/O object (workerd runs their continuations in their own request:
 * handle_cross_request_promise_resolution, on by default since 2024-10-14). The other way round is
 * refused: a request resolving a promise another request made and awaits fails in workerd with
 * "Cannot perform I/O on behalf of a different request (I/O type: RefcountedFulfiller)". The leader hands its
 * statement to its own waitUntil, so a client that hangs up does not cut the others' statement off.
 * Every message is committed before its answer: the statement commits before Neon answers it.
 */
import type { EntityDef } from "../entity/entity.ts";
import { TransientDatabaseError } from "../errors.ts";
import { RowsRejected } from "../writer/port.ts";
import { asId, countSubrequest, type Database, type DbClock, deadlineSignal } from "./neon.ts";
import { classify } from "./neon-answers.ts";

/** Statements of one entity in flight at once: a message arriving while one is out need not wait for it. */
const MAX_FLIGHTS = 2;
/** A statement's rows: far under Neon's 10 MiB request. */
const MAX_MESSAGES = 500;
const MAX_CHARS = 1024 * 1024;
/** Past its deadline and this, a statement still counted in flight is taken for lost (its request ended). */
const LOST_MARGIN_MS = 1000;

/** One message's answer: its id (a duplicate: the row that held its key), or "alone": write it by itself. */
export type GroupAnswer = { id: number | string; duplicate: boolean } | "alone";

interface Member {
  json: string;
  clock: DbClock;
  outcome?: GroupAnswer | { error: unknown };
  /** The statement carrying it, once sent: settles after every message's outcome is set. */
  flight?: Promise<void>;
}

interface Flight {
  left: number;
  /** Made and settled by the request that sent it: others only await it (plain data). */
  done: Promise<void>;
}

interface EntityGroup {
  queue: Member[];
  flights: Flight[];
}

/** Per isolate (DbIsolate): each entity's waiting messages and statements in flight. */
export interface GroupCache {
  groups: Map<string, EntityGroup>;
}

/**
 * Writes one message with whatever else of its entity is waiting. `afterAnswer` is the request's
 * waitUntil. Throws the raw database error of its statement (the retry decorator classifies it).
 */
export async function groupWrite(
  cache: GroupCache,
  db: Database,
  entity: EntityDef,
  json: string,
  clock: DbClock,
  afterAnswer: (work: Promise<unknown>) => void,
): Promise<GroupAnswer> {
  let group = cache.groups.get(entity.name);
  if (!group) cache.groups.set(entity.name, (group = { queue: [], flights: [] }));
  const member: Member = { json, clock };
  group.queue.push(member);
  const deadline = Date.now() + db.timeoutMs + LOST_MARGIN_MS;
  while (member.outcome === undefined) {
    if (!member.flight && mayFly(group, db)) afterAnswer(fly(group, db, entity, clock));
    if (member.outcome !== undefined) break;
    // Its own statement, or else any in flight: when one lands, a waiting message may send the next.
    const landed = member.flight ?? Promise.race(group.flights.map((f) => f.done));
    let timer: ReturnType<typeof setTimeout> | undefined;
    const late = new Promise<"late">((resolve) => (timer = setTimeout(() => resolve("late"), Math.max(0, deadline - Date.now()))));
    const woke = await Promise.race([landed, late]);
    clearTimeout(timer);
    if (woke === "late" && member.outcome === undefined) {
      if (!member.flight) group.queue.splice(group.queue.indexOf(member), 1);
      throw new TransientDatabaseError("the database did not answer a grouped message in time");
    }
  }
  const outcome = member.outcome;
  if (typeof outcome === "object" && "error" in outcome) throw outcome.error;
  return outcome;
}

function mayFly(group: EntityGroup, db: Database): boolean {
  const now = Date.now();
  group.flights = group.flights.filter((f) => now - f.left <= db.timeoutMs + LOST_MARGIN_MS);
  return group.flights.length < MAX_FLIGHTS && group.queue.length > 0;
}

/** The waiting messages (oldest first, within the limits) as one statement, sent by this request. */
function fly(group: EntityGroup, db: Database, entity: EntityDef, clock: DbClock): Promise<void> {
  let chars = 0;
  let take = 0;
  while (take < group.queue.length && take < MAX_MESSAGES && (take === 0 || chars + group.queue[take].json.length < MAX_CHARS)) {
    chars += group.queue[take].json.length + 1;
    take++;
  }
  const batch = group.queue.splice(0, take);
  const flight: Flight = { left: Date.now(), done: send(db, entity, batch, clock) };
  group.flights.push(flight);
  for (const m of batch) m.flight = flight.done;
  const landed = () => {
    const at = group.flights.indexOf(flight);
    if (at >= 0) group.flights.splice(at, 1);
  };
  return flight.done.then(landed);
}

async function send(db: Database, entity: EntityDef, batch: Member[], clock: DbClock): Promise<void> {
  const left = Date.now();
  countSubrequest(clock);
  try {
    const { rows } = await db.http.query(entity.insertGroupSql, [`[${batch.map((m) => m.json).join(",")}]`], deadlineSignal(db));
    const inserted = new Set<string>();
    batch.forEach((m, i) => {
      const [own, existing] = rows[i] ?? [];
      // Rows of one key in one statement: the first is inserted, the others are its duplicates.
      if (own != null && !inserted.has(own)) {
        inserted.add(own);
        m.outcome = { id: asId(own), duplicate: false };
      } else if ((own ?? existing) != null) m.outcome = { id: asId((own ?? existing)!), duplicate: true };
      // The key's row was committed after the statement's snapshot: looked up by itself.
      else m.outcome = "alone";
    });
  } catch (error) {
    // One bad row fails the statement: then each message is written by itself, and gets its own error.
    const alone = batch.length > 1 && classify(error) instanceof RowsRejected;
    for (const m of batch) m.outcome = alone ? "alone" : { error };
  } finally {
    const seconds = (Date.now() - left) / 1000;
    for (const m of batch) m.clock.dbSeconds += seconds;
  }
}
