#!/usr/bin/env python3
"""Writes N users as CSV with JumpCloud column names, for `roster import`
at scale (docs/benchmarks.md): python3 scripts/gen-users.py 1000000 users.csv"""
import csv
import sys

DEPARTMENTS = ["R&D", "Sales", "Finance", "Support", "Legal", "Operations"]


def main() -> None:
    n = int(sys.argv[1])
    out = sys.argv[2]
    with open(out, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["username", "email", "firstname", "lastname", "displayname", "jobTitle",
                    "department", "employeeIdentifier", "costCenter", "company", "externalId"])
        for i in range(n):
            w.writerow([f"user{i:07d}", f"user{i:07d}@scale.example", f"First{i}", f"Last{i}",
                        f"First{i} Last{i}", "Engineer" if i % 3 else "Manager",
                        DEPARTMENTS[i % len(DEPARTMENTS)], f"E{i:07d}", f"CC{i % 100}", "Scale Inc",
                        f"ext-{i:07d}"])


if __name__ == "__main__":
    main()
