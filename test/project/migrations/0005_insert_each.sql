-- Hand-written (not generated): finds, in one statement, the rows of a chunk PostgreSQL refuses. Called
-- with an entity's INSERT (its one parameter: the rows as a JSON array) and the rows, it writes them in
-- ranges, each in its own subtransaction, halving a refused range until the refused rows stand alone
-- (the bisection the Worker would otherwise do with one HTTP request a step, held to Workers' subrequest
-- limit). One result row per range written (inserted: how many were new, the rest had their natural key
-- already) and per row refused (its SQLSTATE and message). Only data refusals are caught (classes 22,
-- 23, 54, as the Worker's row rejections); any other error fails the statement as the INSERT would.
-- SECURITY INVOKER: it runs only what the calling role may run itself. See docs/bulk-writer.md.
CREATE OR REPLACE FUNCTION "nomnom_insert_each"(insert_sql text, rows_json jsonb)
RETURNS TABLE ("first_row" integer, "row_count" integer, "inserted" integer, "state" text, "message" text)
LANGUAGE plpgsql AS $fn$
DECLARE
  -- Ranges still to write, as [from, to) pairs: a stack, the leftmost range on top.
  todo integer[] := ARRAY[0, jsonb_array_length(rows_json)];
  lo integer;
  hi integer;
BEGIN
  WHILE cardinality(todo) > 0 LOOP
    lo := todo[cardinality(todo) - 1];
    hi := todo[cardinality(todo)];
    todo := todo[1:cardinality(todo) - 2];
    BEGIN
      EXECUTE insert_sql USING jsonb_path_query_array(rows_json, '$[$lo to $hi]', jsonb_build_object('lo', lo, 'hi', hi - 1));
      GET DIAGNOSTICS inserted = ROW_COUNT;
      first_row := lo;
      row_count := hi - lo;
      state := NULL;
      message := NULL;
      RETURN NEXT;
    EXCEPTION WHEN data_exception OR integrity_constraint_violation OR program_limit_exceeded THEN
      IF hi - lo = 1 THEN
        GET STACKED DIAGNOSTICS state = RETURNED_SQLSTATE, message = MESSAGE_TEXT;
        first_row := lo;
        row_count := 1;
        inserted := 0;
        RETURN NEXT;
      ELSE
        todo := todo || ARRAY[lo + (hi - lo) / 2, hi, lo, lo + (hi - lo) / 2];
      END IF;
    END;
  END LOOP;
END
$fn$;
