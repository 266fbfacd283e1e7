#!/usr/bin/python3
"""walframes.py DB: the frames of DB's write-ahead log, per commit and per
B-tree (table or index), for bench/walframes.sh.

Reads the WAL header and every frame whose salts match it (the frames of
the current WAL generation; a checkpoint's reset starts a new one), groups
them into commits (a frame with a non-zero "database size" field ends a
commit), then maps each page number to the B-tree owning it with SQLite's
dbstat virtual table, read from a copy of the database and its WAL.
"""
import collections
import os
import shutil
import sqlite3
import struct
import sys
import tempfile


def frames_of(wal_path):
    with open(wal_path, "rb") as f:
        raw = f.read()
    if len(raw) < 32:
        return 0, []
    _magic, _ver, page_size, _ckpt, salt1, salt2, _c1, _c2 = struct.unpack(">8I", raw[:32])
    out = []
    off = 32
    while off + 24 + page_size <= len(raw):
        page, commit_size, s1, s2 = struct.unpack(">4I", raw[off:off + 16])
        if (s1, s2) != (salt1, salt2):
            break
        out.append((page, commit_size))
        off += 24 + page_size
    return page_size, out


def main():
    db = sys.argv[1]
    page_size, frames = frames_of(db + "-wal")
    with tempfile.TemporaryDirectory() as tmp:
        copy = os.path.join(tmp, "copy.db")
        shutil.copy(db, copy)
        shutil.copy(db + "-wal", copy + "-wal")
        con = sqlite3.connect(copy)
        owner = dict(con.execute("SELECT pageno, name FROM dbstat"))
        con.close()
    commits = []
    cur = []
    for page, commit_size in frames:
        cur.append(page)
        if commit_size:
            commits.append(cur)
            cur = []
    n = max(1, len(commits))
    print(f"page size {page_size}, {len(frames)} frames, {len(commits)} commits, "
          f"{sum(len(c) for c in commits) / n:.1f} frames per commit")
    by = collections.Counter(owner.get(p, "(free or new)") for c in commits for p in c)
    for name, count in by.most_common():
        print(f"  {name:28s} {count:8d} frames {count / n:7.2f} per commit")


if __name__ == "__main__":
    main()
