"""MkDocs hook: the Markdown that GitHub renders, made to render the same in the site.

- The site's home page is the repository's README.md, so the front door is written once. `docs/index.md` is a
  placeholder; when MkDocs reads it, this hook hands over README.md instead, with its links into `docs/`
  (`docs/review.md#pull`, `docs/review-screenshot.png`) made relative to the site's root. Any other link in the
  README that does not resolve inside the site fails `mkdocs build --strict`, as it should.
- In a table, GitHub needs a `|` inside a code span written `\\|`; Python-Markdown's tables already leave code
  spans whole and would show the backslash, so it is taken out there (and only there).
"""

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
# A Markdown link or image target that starts with docs/; the lookbehind keeps `](` so only link targets match.
DOCS_LINK = re.compile(r"(?<=\]\()docs/")
TABLE_ROW = re.compile(r"^\|.*$", re.M)
CODE_SPAN = re.compile(r"`[^`\n]*`")


def unescape_pipes(row: re.Match[str]) -> str:
    return CODE_SPAN.sub(lambda span: span.group(0).replace("\\|", "|"), row.group(0))


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri == "index.md":
        markdown = DOCS_LINK.sub("", README.read_text(encoding="utf-8"))
    return TABLE_ROW.sub(unescape_pipes, markdown)
