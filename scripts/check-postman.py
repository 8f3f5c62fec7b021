#!/usr/bin/env python3
"""Compares the failures in the output of ../shared/conformance/postman/run.sh with the
known ones (scripts/postman-known-failures.txt). Exit 0 when they are the same, 1 when
they differ (each difference printed), 2 when the output holds no finished run.

Usage: check-postman.py RUN_OUTPUT KNOWN_FAILURES
"""
import re
import sys
from collections import Counter

# newman's failure table: " 3.  AssertionError  Status code is 201", then, some lines
# below, ' inside "User tests / Post EnterpriseUser"'.
ENTRY = re.compile(r"^\s*\d+\.\s+(\w*Error)\s{2,}(.+?)\s*$")
INSIDE = re.compile(r'^\s*inside "(.+)"\s*$')
SUMMARY = re.compile(r"^postman: (\d+) passed, (\d+) failed$")


def failures(lines):
    found, pending = [], None
    for line in lines:
        entry = ENTRY.match(line)
        if entry:
            pending = entry.group(2)
            continue
        inside = INSIDE.match(line)
        if inside and pending is not None:
            found.append(f"{inside.group(1)} | {pending}")
            pending = None
    return found


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    with open(sys.argv[1], encoding="utf-8") as f:
        lines = f.read().splitlines()
    summary = next((m for m in map(SUMMARY.match, lines) if m), None)
    if summary is None:
        print("postman: no 'postman: P passed, F failed' line; the collections did not run")
        return 2
    with open(sys.argv[2], encoding="utf-8") as f:
        known = Counter(l.strip() for l in f if l.strip() and not l.lstrip().startswith("#"))
    seen = Counter(failures(lines))
    if sum(seen.values()) != int(summary.group(2)):
        print(f"postman: {summary.group(2)} failures reported but {sum(seen.values())} read from the table")
        return 1
    new, fixed = seen - known, known - seen
    for item in sorted(new.elements()):
        print(f"postman: unexpected failure: {item}")
    for item in sorted(fixed.elements()):
        print(f"postman: now passes (remove it from the known failures): {item}")
    if new or fixed:
        return 1
    print(f"postman: {summary.group(1)} passed; the {summary.group(2)} failures are the known ones")
    return 0


if __name__ == "__main__":
    sys.exit(main())
