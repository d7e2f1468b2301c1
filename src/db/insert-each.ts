/**
 * The refused rows of a chunk, found by PostgreSQL in one statement: nomnom_insert_each (migration
 * 0005_insert_each) writes the rows with the entity's INSERT in ranges, each in a subtransaction,
 * halving a refused range until its refused rows stand alone. Over Neon's HTTP API that is one
 * request where bisection from the Worker makes one a step (about 1,400 for 1% refused of 10,000).
 */
import type { EntityDef } from "../entity/entity.ts";
import type { FoundRefused } from "../writer/port.ts";

/** Its parameters: the entity's INSERT (which takes the rows as its one JSON parameter), and the rows. */
export const insertEachSql = "SELECT first_row, inserted, state, message FROM nomnom_insert_each($1, $2::jsonb)";

export const insertEachParams = (entity: EntityDef, rowsJson: string) => [entity.insertSql, rowsJson];

/** Its answer (raw text, one row per range written or row refused) as counts and refusals. */
export function foundRefused(rows: unknown[][]): FoundRefused {
  const found: FoundRefused = { inserted: 0, refused: [] };
  for (const [first, inserted, state, message] of rows) {
    if (state === null) found.inserted += Number(inserted);
    else found.refused.push({ index: Number(first), message: String(message), sqlState: String(state) });
  }
  return found;
}
