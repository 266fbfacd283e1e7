#!/usr/bin/env python3
"""Shape limits of herald's C sources (STYLE.md "Size"), checked by lint.sh:

- a file holds one concern: at most MAX_FILE_LINES lines;
- a function holds one step: at most MAX_FUNC_LINES lines, from its first
  line to its closing brace (tables are initializers, not functions);
- more than MAX_PARAMS parameters: pass a struct. A function whose signature
  a library fixes (a libmicrohttpd or libcurl callback) says so with
  "lint:callback" in the comment or line above its definition.

Usage: lint_shape.py DIR...   Prints one line per violation; exit 1 if any.
"""
import os
import re
import sys

MAX_FILE_LINES = 1200
MAX_FUNC_LINES = 120
MAX_PARAMS = 6


def strip(text):
    """Blanks comments, strings and char literals, keeping line breaks."""
    out = []
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", text[i:j]))
            i = j
        elif text.startswith("//", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            out.append(" " * (j - i))
            i = j
        elif c in "\"'":
            j = i + 1
            while j < n and text[j] != c:
                j += 2 if text[j] == "\\" else 1
            out.append(c + re.sub(r"[^\n]", " ", text[i + 1:j]) + c)
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def count_params(params):
    params = params.strip()
    if params in ("", "void"):
        return 0
    depth, n = 0, 1
    for c in params:
        if c in "([":
            depth += 1
        elif c in ")]":
            depth -= 1
        elif c == "," and depth == 0:
            n += 1
    return n


def check_file(path, problems):
    raw = open(path, encoding="utf-8", errors="replace").read()
    lines = raw.split("\n")
    if len(lines) - 1 > MAX_FILE_LINES:
        problems.append(f"{path}: {len(lines) - 1} lines (limit {MAX_FILE_LINES}): split it by concern")
    text = strip(raw)
    # Top-level blocks: a "{" at depth 0 preceded by ") " (after the parameter
    # list) opens a function body; anything else (struct, initializer) is not.
    depth = 0
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c == "{":
            if depth == 0:
                head = text[:i].rstrip()
                if head.endswith(")") and not re.search(r"=\s*$", head):
                    # find the matching "(" of the parameter list
                    k, d = len(head) - 1, 0
                    while k >= 0:
                        if head[k] == ")":
                            d += 1
                        elif head[k] == "(":
                            d -= 1
                            if d == 0:
                                break
                        k -= 1
                    m = re.search(r"(\w+)\s*$", head[:k])
                    name = m.group(1) if m else "?"
                    if name not in ("if", "for", "while", "switch", "sizeof"):
                        start_line = head.count("\n", 0, m.start() if m else k) + 1
                        end = find_close(text, i)
                        end_line = text.count("\n", 0, end) + 1
                        length = end_line - start_line + 1
                        if length > MAX_FUNC_LINES:
                            problems.append(f"{path}:{start_line}: {name}() is {length} lines "
                                            f"(limit {MAX_FUNC_LINES}): split it into steps")
                        nparams = count_params(head[k + 1:-1])
                        above = "\n".join(lines[max(0, start_line - 3):start_line])
                        if nparams > MAX_PARAMS and "lint:callback" not in above:
                            problems.append(f"{path}:{start_line}: {name}() takes {nparams} parameters "
                                            f"(limit {MAX_PARAMS}): pass a struct")
                        i = end + 1
                        continue
            depth += 1
        elif c == "}":
            depth -= 1
        i += 1


def find_close(text, open_at):
    depth = 0
    for j in range(open_at, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return j
    return len(text) - 1


def main():
    problems = []
    for root in sys.argv[1:]:
        for dirpath, _, files in os.walk(root):
            for f in sorted(files):
                if f.endswith((".c", ".h")):
                    check_file(os.path.join(dirpath, f), problems)
    for p in problems:
        print(f"lint: {p}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
