-- test/upgrade/catalog.sql: every member object of the extension, one line
-- each, with its full definition, privileges and comment, by name (never by
-- OID), so the same output means the same objects.  Run in an updated and in
-- a freshly installed database by test/upgrade/upgrade.sh, which compares.
\pset format unaligned
\pset tuples_only on
\pset fieldsep ' | '
SET search_path = pg_catalog;

WITH member AS (
    SELECT d.classid, d.objid, d.objsubid
      FROM pg_depend d
      JOIN pg_extension e ON d.refclassid = 'pg_extension'::regclass AND d.refobjid = e.oid
     WHERE e.extname = 'retention' AND d.deptype = 'e'
),
described AS (
    SELECT pg_describe_object(m.classid, m.objid, m.objsubid) AS object,
           CASE m.classid
           WHEN 'pg_proc'::regclass THEN (
               SELECT CASE WHEN p.prokind = 'a' THEN
                          format('aggregate(%s) trans %s %s init %s final %s extra %s modify %s combine %s serial %s deserial %s minvfunc %s kind %s parallel %s',
                                 pg_get_function_arguments(p.oid), a.aggtransfn::regprocedure, a.aggtranstype::regtype,
                                 a.agginitval, a.aggfinalfn, a.aggfinalextra, a.aggfinalmodify, a.aggcombinefn,
                                 a.aggserialfn, a.aggdeserialfn, a.aggminvtransfn, a.aggkind, p.proparallel)
                      ELSE pg_get_functiondef(p.oid) END
                      || ' acl ' || coalesce(p.proacl::text, 'default')
                      || ' owner-is-bootstrap ' || (p.proowner = 10)::text
                 FROM pg_proc p LEFT JOIN pg_aggregate a ON a.aggfnoid = p.oid
                WHERE p.oid = m.objid)
           WHEN 'pg_type'::regclass THEN (
               SELECT format('type %s len %s byval %s cat %s in %s out %s recv %s send %s align %s storage %s rel %s acl %s',
                             t.typtype, t.typlen, t.typbyval, t.typcategory, t.typinput, t.typoutput,
                             t.typreceive, t.typsend, t.typalign, t.typstorage,
                             (SELECT string_agg(format('%s %s', a.attname, format_type(a.atttypid, a.atttypmod)), ', ' ORDER BY a.attnum)
                                FROM pg_attribute a WHERE a.attrelid = t.typrelid AND a.attnum > 0),
                             coalesce(t.typacl::text, 'default'))
                 FROM pg_type t WHERE t.oid = m.objid)
           WHEN 'pg_class'::regclass THEN (
               SELECT format('relation %s acl %s rls %s/%s columns (%s) constraints (%s) indexes (%s) policies (%s) triggers (%s) view %s',
                             c.relkind, coalesce(c.relacl::text, 'default'), c.relrowsecurity, c.relforcerowsecurity,
                             (SELECT string_agg(format('%s %s%s%s%s%s', a.attname, format_type(a.atttypid, a.atttypmod),
                                                       CASE WHEN a.attnotnull THEN ' not null' ELSE '' END,
                                                       CASE WHEN a.attidentity <> '' THEN ' identity ' || a.attidentity::text ELSE '' END,
                                                       ' default ' || pg_get_expr(ad.adbin, ad.adrelid),
                                                       ' acl ' || a.attacl::text), ', ' ORDER BY a.attnum)
                                FROM pg_attribute a
                                LEFT JOIN pg_attrdef ad ON ad.adrelid = a.attrelid AND ad.adnum = a.attnum
                               WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped),
                             (SELECT string_agg(format('%s %s', co.conname, pg_get_constraintdef(co.oid)), ', ' ORDER BY co.conname)
                                FROM pg_constraint co WHERE co.conrelid = c.oid),
                             (SELECT string_agg(pg_get_indexdef(i.indexrelid), ', ' ORDER BY 1)
                                FROM pg_index i WHERE i.indrelid = c.oid),
                             (SELECT string_agg(format('%s %s %s %s using %s check %s', po.polname, po.polcmd::text, po.polpermissive,
                                                       po.polroles::regrole[], pg_get_expr(po.polqual, po.polrelid),
                                                       pg_get_expr(po.polwithcheck, po.polrelid)), ', ' ORDER BY po.polname)
                                FROM pg_policy po WHERE po.polrelid = c.oid),
                             (SELECT string_agg(pg_get_triggerdef(tg.oid), ', ' ORDER BY tg.tgname)
                                FROM pg_trigger tg WHERE tg.tgrelid = c.oid AND NOT tg.tgisinternal),
                             CASE WHEN c.relkind IN ('v', 'm') THEN pg_get_viewdef(c.oid) END)
                 FROM pg_class c WHERE c.oid = m.objid)
           WHEN 'pg_cast'::regclass THEN (
               SELECT format('cast %s -> %s via %s context %s method %s', c.castsource::regtype, c.casttarget::regtype,
                             c.castfunc::regprocedure, c.castcontext, c.castmethod)
                 FROM pg_cast c WHERE c.oid = m.objid)
           WHEN 'pg_namespace'::regclass THEN (
               SELECT format('schema acl %s', coalesce(n.nspacl::text, 'default'))
                 FROM pg_namespace n WHERE n.oid = m.objid)
           WHEN 'pg_operator'::regclass THEN (
               SELECT format('operator %s(%s, %s) -> %s', o.oprcode, o.oprleft::regtype, o.oprright::regtype, o.oprresult::regtype)
                 FROM pg_operator o WHERE o.oid = m.objid)
           ELSE 'unchecked class ' || m.classid::regclass::text
           END AS definition,
           obj_description(m.objid, m.classid::regclass::name) AS comment
      FROM member m
)
SELECT object, coalesce(definition, '?'), coalesce(comment, 'no comment') FROM described
UNION ALL
SELECT 'extension configuration', c::regclass::text, coalesce(x.extcondition[i], '')
  FROM pg_extension x, unnest(x.extconfig) WITH ORDINALITY AS u(c, i)
 WHERE x.extname = 'retention'
ORDER BY 1, 2, 3;
