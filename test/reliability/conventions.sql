-- pgTAP: conventions every object of the extension keeps (see CRAFT.md).
-- Each test lists the offenders, so a failure names what to fix.
BEGIN;
SELECT plan(8);

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'retention'::regnamespace
                   AND obj_description(p.oid, 'pg_proc') IS NULL ORDER BY 1),
          '{}'::text[], 'every function, aggregate and procedure has a comment');

SELECT is(ARRAY(SELECT t.oid::regtype::text FROM pg_type t
                 WHERE t.typnamespace = 'retention'::regnamespace
                   AND t.typtype IN ('b', 'c', 'e', 'd') AND t.typelem = 0
                   AND (t.typrelid = 0 OR (SELECT relkind FROM pg_class WHERE oid = t.typrelid) = 'c')
                   AND obj_description(t.oid, 'pg_type') IS NULL ORDER BY 1),
          '{}'::text[], 'every type has a comment');

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'retention'::regnamespace AND p.prosecdef ORDER BY 1),
          '{}'::text[], 'no SECURITY DEFINER: everything runs with the caller''s privileges');

-- SQL and PL/pgSQL functions that read a relation the caller names may be
-- PARALLEL RESTRICTED (it could be a temporary table); C code must be SAFE
SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                  JOIN pg_language l ON l.oid = p.prolang
                 WHERE p.pronamespace = 'retention'::regnamespace
                   AND p.provolatile IN ('i', 's')
                   AND (p.proparallel = 'u' OR (l.lanname = 'c' AND p.proparallel <> 's'))
                 ORDER BY 1),
          '{}'::text[], 'IMMUTABLE and STABLE functions are never PARALLEL UNSAFE, and C ones are SAFE');

SELECT is(ARRAY(SELECT a.aggfnoid::regprocedure::text FROM pg_aggregate a
                  JOIN pg_proc p ON p.oid = a.aggfnoid
                 WHERE p.pronamespace = 'retention'::regnamespace
                   AND (a.aggcombinefn = 0 OR p.proparallel <> 's') ORDER BY 1),
          '{}'::text[], 'every aggregate has a combine function and is PARALLEL SAFE');

SELECT is(ARRAY(SELECT a.aggfnoid::regprocedure::text FROM pg_aggregate a
                  JOIN pg_proc p ON p.oid = a.aggfnoid
                 WHERE p.pronamespace = 'retention'::regnamespace
                   AND a.aggtranstype = 'internal'::regtype
                   AND (a.aggserialfn = 0 OR a.aggdeserialfn = 0) ORDER BY 1),
          '{}'::text[], 'every aggregate with an internal state can serialise it for parallel workers');

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 WHERE p.pronamespace = 'retention'::regnamespace
                   AND NOT EXISTS (SELECT 1 FROM pg_depend d
                                    WHERE d.classid = 'pg_proc'::regclass AND d.objid = p.oid
                                      AND d.refclassid = 'pg_extension'::regclass AND d.deptype = 'e')
                 ORDER BY 1),
          '{}'::text[], 'every function of the schema belongs to the extension');

SELECT is(ARRAY(SELECT p.oid::regprocedure::text FROM pg_proc p
                 JOIN pg_language l ON l.oid = p.prolang
                 WHERE p.pronamespace = 'retention'::regnamespace
                   AND l.lanname = 'c' AND p.proisstrict = false
                   AND p.prokind = 'f'
                   AND NOT EXISTS (SELECT 1 FROM pg_aggregate a
                                    WHERE p.oid IN (a.aggtransfn, a.aggfinalfn, a.aggcombinefn,
                                                    a.aggserialfn, a.aggdeserialfn))
                   AND obj_description(p.oid, 'pg_proc') NOT ILIKE '%NULL%'
                 ORDER BY 1),
          '{}'::text[], 'C functions that are not STRICT say in their comment what NULL inputs do');

SELECT * FROM finish();
ROLLBACK;
