#!/usr/bin/python3
"""The README's links all point inside the repository, at files that exist
(issue 13: the README once linked ../shared/SPEC.md); so do the relative
links of docs/*.md and dashboards/README.md (theirs may also name a web page).
Usage: tests/deploy/check_links.py [REPO_ROOT]"""
import glob
import os
import re
import sys

root = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), "..", ".."))
link = re.compile(r"\]\(([^)\s]+)\)")
bad = []
checked = 0
files = ["README.md"] + sorted(glob.glob(os.path.join(root, "docs", "*.md"))) + ["dashboards/README.md"]
for f in files:
    path = os.path.join(root, f)
    text = open(path, encoding="utf-8").read()
    text = re.sub(r"```.*?```", "", text, flags=re.S)  # code blocks hold no links
    for target in link.findall(text):
        checked += 1
        external = re.match(r"[a-z][a-z0-9+.-]*:", target)
        if external:
            if os.path.basename(f) == "README.md" and os.path.dirname(path) == root:
                bad.append("%s: %s: the README links only inside the repository" % (f, target))
            continue
        file_part = target.split("#", 1)[0]
        if file_part == "":
            continue  # an anchor in the same file
        dest = os.path.normpath(os.path.join(os.path.dirname(path), file_part))
        if not (dest + os.sep).startswith(root + os.sep) and dest != root:
            bad.append("%s: %s: points outside the repository" % (os.path.relpath(path, root), target))
        elif not os.path.exists(dest):
            bad.append("%s: %s: no such file" % (os.path.relpath(path, root), target))
for b in bad:
    print("FAIL: " + b, file=sys.stderr)
print("check_links: %d passed, %d failed" % (checked - len(bad), len(bad)))
sys.exit(1 if bad else 0)
