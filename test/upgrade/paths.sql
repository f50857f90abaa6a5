-- pgTAP: every version of the extension that has an install or upgrade
-- script can be updated to the default version, so ALTER EXTENSION
-- retention UPDATE works from each released version.  (0.1.0 is the
-- first release; each later version adds sql/retention--A--B.sql, and this
-- test then covers the new path without changes.)
BEGIN;
SELECT plan(3);

SELECT is((SELECT default_version FROM pg_available_extensions WHERE name = 'retention'),
          (SELECT extversion FROM pg_extension WHERE extname = 'retention'),
          'the installed version is the default version');

SELECT is(ARRAY(SELECT v.version FROM pg_available_extension_versions v
                 WHERE v.name = 'retention'
                   AND v.version <> (SELECT default_version FROM pg_available_extensions WHERE name = 'retention')
                   AND NOT EXISTS (SELECT 1 FROM pg_extension_update_paths('retention') p
                                    WHERE p.source = v.version
                                      AND p.target = (SELECT default_version FROM pg_available_extensions
                                                       WHERE name = 'retention')
                                      AND p.path IS NOT NULL)
                 ORDER BY 1),
          '{}'::text[], 'every older version has an update path to the default version');

-- updating to the version already installed is a no-op, not an error
SELECT lives_ok($$ALTER EXTENSION retention UPDATE$$, 'ALTER EXTENSION retention UPDATE succeeds');

SELECT * FROM finish();
ROLLBACK;
