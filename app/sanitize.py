"""The one HTML policy: what editors' Markdown may become on a public page.

Everything rendered as HTML (articles) passes through ``clean``: a short allowlist of tags and attributes,
links to http(s) and mailto only, every link marked ``rel="noopener noreferrer nofollow"``. No script,
style, iframe, image, form, event handler, ``hx-*`` or ``data-*`` attribute ever gets through.
"""

from __future__ import annotations

from functools import partial

from bleach.linkifier import LinkifyFilter
from bleach.sanitizer import Cleaner
from markdown_it import MarkdownIt

TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "h2",
        "h3",
        "h4",
        "strong",
        "em",
        "code",
        "pre",
        "blockquote",
        "ul",
        "ol",
        "li",
        "a",
    }
)
ATTRIBUTES = {"a": ["href", "title", "rel"], "ol": ["start"]}
PROTOCOLS = frozenset({"http", "https", "mailto"})
REL = "noopener noreferrer nofollow"


def _rel(attrs: dict, new: bool = False) -> dict:
    attrs[(None, "rel")] = REL
    attrs.pop((None, "target"), None)
    return attrs


_cleaner = Cleaner(
    tags=TAGS,
    attributes=ATTRIBUTES,
    protocols=PROTOCOLS,
    strip=True,
    strip_comments=True,
    filters=[partial(LinkifyFilter, callbacks=[_rel], skip_tags={"pre", "code"}, parse_email=False)],
)

# Raw HTML in the source is not interpreted: it shows as text. Headings start at h2 (the page has the h1).
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False})


def clean(html: str) -> str:
    """Sanitize HTML by the policy above."""
    return _cleaner.clean(html or "")


def render_markdown(source: str) -> str:
    """Markdown → safe HTML."""
    html = _markdown.render(source or "")
    # A "# Title" line becomes h2: the article's title is the page's only h1.
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return clean(html)
