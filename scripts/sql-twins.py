#!/usr/bin/env python3
"""Counts SQL statements repeated across the PostgreSQL/SQLite twin files.

Usage: python3 scripts/sql-twins.py [repo-root] [-v]

For each pair (postgres.rs, sqlite.rs) it extracts the Rust string literals
that are SQL statements (they start with SELECT/INSERT/UPDATE/DELETE/WITH/
PRAGMA/SET/CREATE, or with a `{CONST}` that `format!` fills in: a
statement built on a shared prefix; a literal that only joins `{CONST}`s
holds no SQL of its own and is not counted), and
normalises each: placeholders `$n`, `?n`, `?` -> `?`, whitespace collapsed,
lower case. A statement is *repeated* when the same normalised text occurs in
both files of a pair. Per pair:
    total    = distinct normalised statements in pg.rs ∪ sqlite.rs
    repeated = distinct normalised statements in pg.rs ∩ sqlite.rs
Statements written once for both backends (string literals in the pair's
shared files: mod.rs / lib.rs / sql.rs next to the pair, and `.sql` files in
a `sql/` folder next to it) are reported as `shared`; they count towards the
total once, never as repeated.
Also prints the line count of the twin files (postgres.rs + sqlite.rs) and
of the shared statement files (sql.rs, sql/*.sql) next to them.
"""
import os
import re
import sys

PAIRS = [
    "infra/store/src/accounts",
    "infra/store/src/db",
    "infra/store/src/documents",
    "infra/store/src/event_store",
    "infra/read-store/src",
]
SHARED_RS = ["mod.rs", "lib.rs", "sql.rs"]

# `"{SELECT_EVENT} {STREAM_EVENTS}"`: only joins consts, holds no SQL itself.
ONLY_CONSTS = re.compile(r"(\s*\{[A-Z_]+\}\s*)+")
SQL_START = re.compile(
    r"^\s*((?-i:\{[A-Z_]+\})|(select|insert|update|delete|with|pragma|set|create)\b)",
    re.I,
)


def literals(src):
    """The string literals of Rust source (comments and chars skipped)."""
    out = []
    i, n = 0, len(src)
    while i < n:
        c = src[i]
        if src.startswith("//", i):
            j = src.find("\n", i)
            i = n if j < 0 else j
        elif src.startswith("/*", i):
            j = src.find("*/", i + 2)
            i = n if j < 0 else j + 2
        elif c == "r" and re.match(r'r#*"', src[i:]) and (i == 0 or not (src[i - 1].isalnum() or src[i - 1] == "_")):
            m = re.match(r'r(#*)"', src[i:])
            end = '"' + m.group(1)
            start = i + len(m.group(0))
            j = src.find(end, start)
            out.append(src[start:j])
            i = j + len(end)
        elif c == "b" and src.startswith('b"', i):
            i += 1  # byte strings: read as normal strings next round
        elif c == '"':
            j = i + 1
            buf = []
            while src[j] != '"':
                if src[j] == "\\":
                    nxt = src[j + 1]
                    if nxt == "\n":  # line continuation
                        j += 2
                        while src[j] in " \t\n":
                            j += 1
                        continue
                    buf.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(nxt, nxt))
                    j += 2
                else:
                    buf.append(src[j])
                    j += 1
            out.append("".join(buf))
            i = j + 1
        elif c == "'":
            m = re.match(r"'(\\u\{[0-9a-fA-F]+\}|\\.|[^\\'])'", src[i:])
            i += len(m.group(0)) if m else 1
        else:
            i += 1
    return out


def normalise(sql):
    sql = re.sub(r"\$\d+|\?\d*", "?", sql)
    sql = re.sub(r"\s+", " ", sql).strip().lower()
    return sql


def statements(path):
    if not os.path.exists(path):
        return set()
    with open(path, encoding="utf-8") as f:
        src = f.read()
    if path.endswith(".sql"):
        # One statement per file (comment lines dropped).
        body = "\n".join(l for l in src.splitlines() if not l.lstrip().startswith("--"))
        return {normalise(body)} if body.strip() else set()
    return {normalise(s) for s in literals(src) if SQL_START.match(s) and not ONLY_CONSTS.fullmatch(s)}


def main():
    args = [a for a in sys.argv[1:] if a != "-v"]
    verbose = "-v" in sys.argv
    root = args[0] if args else "."
    grand = {"total": 0, "repeated": 0, "shared": 0, "lines": 0, "shared_lines": 0}
    for pair in PAIRS:
        d = os.path.join(root, pair)
        pg = statements(os.path.join(d, "postgres.rs"))
        lite = statements(os.path.join(d, "sqlite.rs"))
        shared = set()
        for name in SHARED_RS:
            shared |= statements(os.path.join(d, name))
        sql_dir = os.path.join(d, "sql")
        if os.path.isdir(sql_dir):
            for name in sorted(os.listdir(sql_dir)):
                if name.endswith(".sql"):
                    shared |= statements(os.path.join(sql_dir, name))
        shared_lines = 0
        for name in ["sql.rs"] + [os.path.join("sql", f) for f in
                                  (sorted(os.listdir(sql_dir)) if os.path.isdir(sql_dir) else [])]:
            p = os.path.join(d, name)
            if os.path.exists(p):
                with open(p, encoding="utf-8") as f:
                    shared_lines += sum(1 for _ in f)
        lines = 0
        for name in ("postgres.rs", "sqlite.rs"):
            p = os.path.join(d, name)
            if os.path.exists(p):
                with open(p, encoding="utf-8") as f:
                    lines += sum(1 for _ in f)
        repeated = pg & lite
        total = len(pg | lite | shared)
        print(f"{pair:32} repeated {len(repeated):3} of {total:3}  "
              f"(pg {len(pg)}, sqlite {len(lite)}, shared {len(shared)})  lines {lines} + shared {shared_lines}")
        if verbose:
            for s in sorted(repeated):
                print("    =", s[:150])
        grand["total"] += total
        grand["repeated"] += len(repeated)
        grand["shared"] += len(shared)
        grand["lines"] += lines
        grand["shared_lines"] += shared_lines
    print(f"{'all pairs':32} repeated {grand['repeated']:3} of {grand['total']:3}  "
          f"(shared {grand['shared']})  twin-file lines {grand['lines']} + shared sql files {grand['shared_lines']}")


if __name__ == "__main__":
    main()
