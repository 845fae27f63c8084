"""The one HTML policy: what editors' Markdown may become on a public page.

Everything rendered as HTML (articles) passes through ``clean`` (nh3, the binding of Rust's ammonia): a short
allowlist of tags and attributes, links to http(s) and mailto only, every link marked
``rel="noopener noreferrer nofollow"``. No script, style, iframe, image, form, event handler, ``hx-*`` or ``data-*``
attribute ever gets through.
"""

from __future__ import annotations

import nh3
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
ATTRIBUTES = {"a": {"href", "title", "rel"}, "ol": {"start"}}
PROTOCOLS = frozenset({"http", "https", "mailto"})
REL = "noopener noreferrer nofollow"

# Raw HTML in the source is not interpreted: it shows as text. Headings start at h2 (the page has the h1). Bare
# web addresses become links (outside code), as they did before (bleach's linkifier); e-mail addresses do not.
_markdown = MarkdownIt("commonmark", {"html": False, "linkify": True, "typographer": False}).enable("linkify")
_markdown.linkify.set({"fuzzy_email": False})


def clean(html: str) -> str:
    """Sanitize HTML by the policy above."""
    return nh3.clean(
        html or "",
        tags=set(TAGS),
        # rel is nh3's to write: REL on every link, whatever the source had
        attributes={tag: names - {"rel"} for tag, names in ATTRIBUTES.items()},
        url_schemes=set(PROTOCOLS),
        link_rel=REL,
        strip_comments=True,
    )


def render_markdown(source: str) -> str:
    """Markdown → safe HTML."""
    html = _markdown.render(source or "")
    # A "# Title" line becomes h2: the article's title is the page's only h1.
    html = html.replace("<h1>", "<h2>").replace("</h1>", "</h2>")
    return clean(html)
