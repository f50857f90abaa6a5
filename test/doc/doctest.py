#!/usr/bin/env python3
"""test/doc/doctest.py: run the SQL examples of the docs and compare their output.

In README.md and doc/*.md, a ```sql block followed (after blank lines at most)
by an ```output block is an example: its SQL runs through psql and must print
exactly the output shown (aligned, as psql prints by default without the row
count footer; or only the values, aligned or not, when the output block has no
header line and the example changes nothing).  A ```sql block right after the line
<!-- doctest: run --> runs without being compared (setup the reader sees);
other ```sql blocks are not run.  Each file runs in a database of its own,
created from TEMPLATE, its examples in order, each in its own psql session,
from the top of the repository (so data/... paths work).

usage: doctest.py TEMPLATE FILE...     (PGHOST, PGPORT, PGUSER from the environment)
Prints TAP-like lines and a last line "N passed, N failed".
"""
import difflib
import os
import subprocess
import sys

RUN_MARK = '<!-- doctest: run -->'


def blocks(path):
    """(line, sql, expected or None) for each block to run, in order."""
    lines = open(path, encoding='utf-8').read().split('\n')
    i = 0
    while i < len(lines):
        if lines[i].strip() == '```sql':
            start = i
            j = i + 1
            while j < len(lines) and lines[j].strip() != '```':
                j += 1
            sql = '\n'.join(lines[i + 1:j])
            k = j + 1
            while k < len(lines) and lines[k].strip() == '':
                k += 1
            prev = start - 1
            while prev >= 0 and lines[prev].strip() == '':
                prev -= 1
            if k < len(lines) and lines[k].strip() == '```output':
                m = k + 1
                while m < len(lines) and lines[m].strip() != '```':
                    m += 1
                yield start + 1, sql, '\n'.join(lines[k + 1:m])
                i = m
            elif prev >= 0 and lines[prev].strip() == RUN_MARK:
                yield start + 1, sql, None
                i = j
            else:
                i = j
        i += 1


def normalise(text):
    """The lines of an output, without trailing blanks and empty lines (psql
    separates the results of several statements by one)."""
    return [line.rstrip() for line in text.split('\n') if line.strip()]


# How psql may print an example: aligned with column headers (the default), or
# only the values, aligned or not (an output block without a header line).
FORMATS = [[], ['-t'], ['-A', '-t']]


def psql(db, sql, fmt=()):
    result = subprocess.run(
        ['psql', '-X', '-q', '-v', 'ON_ERROR_STOP=1', '-P', 'pager=off', '-P', 'footer=off',
         *fmt, '-d', db, '-f', '-'],
        input=sql, capture_output=True, text=True)
    return result.returncode, result.stdout, result.stderr


def main():
    template, files = sys.argv[1], sys.argv[2:]
    passed = failed = 0
    for path in files:
        db = 'retention_doc_' + os.path.basename(path).replace('.md', '').lower()
        subprocess.run(['psql', '-X', '-q', '-d', 'postgres', '-c', f'DROP DATABASE IF EXISTS "{db}"',
                        '-c', f'CREATE DATABASE "{db}" TEMPLATE "{template}"'],
                       check=True, capture_output=True)
        for line, sql, expected in blocks(path):
            where = f'{path}:{line}'
            status, out, err = psql(db, sql)
            if status == 0 and expected is not None and normalise(out) != normalise(expected):
                # not idempotent examples (CREATE ...) are printed in the default format
                if not any(w in sql.upper() for w in ('CREATE ', 'INSERT ', 'CALL ', 'UPDATE ', 'DELETE ')):
                    for fmt in FORMATS[1:]:
                        status2, out2, _ = psql(db, sql, fmt)
                        if status2 == 0 and normalise(out2) == normalise(expected):
                            out = out2
                            break
            if status != 0:
                failed += 1
                print(f'not ok - {where}: the SQL failed')
                print('#   ' + err.strip().replace('\n', '\n#   '))
                continue
            if expected is None:
                continue
            if normalise(out) == normalise(expected):
                passed += 1
                print(f'ok - {where}')
            else:
                failed += 1
                print(f'not ok - {where}: the output differs from the doc')
                for d in difflib.unified_diff(normalise(expected), normalise(out), 'doc', 'psql', lineterm='', n=1):
                    print('#   ' + d)
        subprocess.run(['psql', '-X', '-q', '-d', 'postgres', '-c', f'DROP DATABASE IF EXISTS "{db}"'],
                       capture_output=True)
    print(f'{passed} passed, {failed} failed')
    return 0 if failed == 0 else 1


if __name__ == '__main__':
    sys.exit(main())
