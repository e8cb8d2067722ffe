"""MkDocs hook: the site's home page is the repository's README.md, so the front door is written once.

`docs/index.md` is a placeholder; when MkDocs reads it, this hook hands over README.md instead, with its links
into `docs/` (`docs/review.md#pull`, `docs/review-screenshot.png`) made relative to the site's root. Nothing
else is rewritten: any other link in the README that does not resolve inside the site fails `mkdocs build
--strict`, as it should.
"""

import re
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parent.parent / "README.md"
# A Markdown link or image target that starts with docs/; the lookbehind keeps `](` so only link targets match.
DOCS_LINK = re.compile(r"(?<=\]\()docs/")


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if page.file.src_uri != "index.md":
        return markdown
    return DOCS_LINK.sub("", README.read_text(encoding="utf-8"))
