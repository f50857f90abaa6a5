# shellcheck shell=bash
#
# test/doc/doctest.sh: every SQL example of README.md and doc/*.md runs and
# prints the output the docs show (test/doc/doctest.py says which blocks
# count).  Sourced by scripts/test once the cluster runs; counts the examples
# in doc_passed and doc_failed.

doc_passed=0
doc_failed=0

retention_doc() {
	local last
	log "doc test: the examples of README.md and doc/"
	retention_create_database retention_doc_template
	python3 "$RETENTION_ROOT/test/doc/doctest.py" retention_doc_template \
		README.md doc/*.md | tee doctest.log || true
	last=$(tail -1 doctest.log)
	doc_passed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\1/p' <<<"$last")
	doc_failed=$(sed -nE 's/^([0-9]+) passed, ([0-9]+) failed$/\2/p' <<<"$last")
	# no summary line: the harness itself failed
	[ -n "$doc_passed" ] || { doc_passed=0; doc_failed=1; }
	rm -f doctest.log
}
