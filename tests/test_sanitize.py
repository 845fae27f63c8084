"""The HTML policy in ``app.sanitize`` against a corpus of XSS payloads, plus what it must still let through.

Every payload goes through both ``clean()`` and ``render_markdown()``. The output is not searched as a raw
string: it is parsed with the stdlib ``html.parser.HTMLParser`` and every start tag and attribute is
checked against the policy (tags, attribute names, link schemes, ``rel``).
"""

from __future__ import annotations

import html
import re
import unicodedata
from html.parser import HTMLParser

import pytest

from app import sanitize
from app.sanitize import clean, render_markdown

REL = "noopener noreferrer nofollow"
SAFE_SCHEMES = ("http://", "https://", "mailto:")
FORBIDDEN_ATTRS = {"style", "src", "srcdoc", "xlink:href", "formaction", "action"}
FORBIDDEN_ATTR_PREFIXES = ("on", "hx-", "data-")

# (id, payload). Every entry is run through clean() and through render_markdown().
PAYLOADS = [
    # <script> in many forms
    ("script-plain", "<script>alert(1)</script>"),
    ("script-mixed-case", "<ScRiPt>alert(1)</sCrIpT>"),
    ("script-upper", "<SCRIPT>alert(1)</SCRIPT>"),
    ("script-nested", "<scr<script>ipt>alert(1)</scr</script>ipt>"),
    ("script-unclosed", "<script>alert(1)"),
    ("script-src-attr", '<script src="https://evil.example/x.js"></script>'),
    ("script-type-attr", '<script type="text/javascript">alert(1)</script>'),
    ("script-slash-attr", "<script/src=//evil.example/x.js></script>"),
    ("script-space-before-close", "<script >alert(1)</script >"),
    ("script-double-open", "<<script>alert(1);//<</script>"),
    ("script-inside-p", "<p>hi<script>alert(1)</script></p>"),
    ("script-inside-pre-code", "<pre><code><script>alert(1)</script></code></pre>"),
    ("script-newline-in-tag", "<script\n>alert(1)</script\n>"),
    # event handlers
    ("img-onerror", "<img src=x onerror=alert(1)>"),
    ("img-onerror-quoted", '<img src="x" onerror="alert(1)">'),
    ("body-onload", "<body onload=alert(1)>"),
    ("div-onclick", '<div onclick="alert(1)">click</div>'),
    ("a-onclick", '<a href="https://ok.example" onclick="alert(1)">x</a>'),
    ("a-onmouseover", '<a href="#" onmouseover="alert(1)">x</a>'),
    ("p-onmouseover", '<p onmouseover="alert(1)">hover</p>'),
    ("strong-onclick", "<strong onclick=alert(1)>x</strong>"),
    ("li-onclick", "<ul><li onclick=alert(1)>x</li></ul>"),
    ("input-onfocus-autofocus", "<input onfocus=alert(1) autofocus>"),
    ("p-onfocus-tabindex", '<p tabindex="1" onfocus="alert(1)" autofocus>x</p>'),
    ("details-ontoggle", "<details open ontoggle=alert(1)>"),
    ("a-onclick-slash-separator", '<a/onclick="alert(1)"/href="https://ok.example">x</a>'),
    ("a-onclick-uppercase", '<a href="https://ok.example" ONCLICK="alert(1)">x</a>'),
    ("video-source-onerror", "<video><source onerror=alert(1)></video>"),
    ("audio-onerror", "<audio src=x onerror=alert(1)>"),
    ("marquee-onstart", "<marquee onstart=alert(1)>x</marquee>"),
    # hx-* and data-* attributes
    ("a-hx-get", '<a href="/x" hx-get="/admin/delete" hx-trigger="load">x</a>'),
    ("p-hx-post", '<p hx-post="/admin/publish" hx-trigger="load">x</p>'),
    ("p-hx-on-click", '<p hx-on:click="alert(1)">x</p>'),
    ("p-hx-on-after-request", '<p hx-on::after-request="alert(1)">x</p>'),
    ("div-data-hx-get", '<div data-hx-get="/admin" data-hx-trigger="load">x</div>'),
    ("p-data-hx-post", '<p data-hx-post="/admin/delete" data-hx-trigger="load">x</p>'),
    ("a-data-attr", '<a href="https://ok.example" data-x="1" data-hx-swap="outerHTML">x</a>'),
    ("ol-data-attr", '<ol start="2" data-foo="bar"><li>x</li></ol>'),
    ("p-hx-vals-js", "<p hx-vals='js:{a: alert(1)}' hx-get=/x hx-trigger=load>x</p>"),
    # javascript: URLs
    ("js-plain", '<a href="javascript:alert(1)">x</a>'),
    ("js-mixed-case", '<a href="JaVaScRiPt:alert(1)">x</a>'),
    ("js-tab-inside", '<a href="java\tscript:alert(1)">x</a>'),
    ("js-newline-inside", '<a href="java\nscript:alert(1)">x</a>'),
    ("js-cr-inside", '<a href="java\rscript:alert(1)">x</a>'),
    ("js-entity-decimal", '<a href="&#106;avascript:alert(1)">x</a>'),
    ("js-entity-hex", '<a href="&#x6A;avascript:alert(1)">x</a>'),
    ("js-entity-all", '<a href="&#x6A;&#x61;&#x76;&#x61;&#x73;&#x63;&#x72;&#x69;&#x70;&#x74;&#x3A;alert(1)">x</a>'),
    ("js-entity-no-semicolon", '<a href="&#106&#97&#118&#97&#115&#99&#114&#105&#112&#116&#58alert(1)">x</a>'),
    ("js-leading-spaces", '<a href="   javascript:alert(1)">x</a>'),
    ("js-leading-control-char", '<a href="\x01javascript:alert(1)">x</a>'),
    ("js-entity-tab", '<a href="jav&#x09;ascript:alert(1)">x</a>'),
    ("js-entity-newline", '<a href="jav&#x0A;ascript:alert(1)">x</a>'),
    ("js-colon-entity", '<a href="javascript&colon;alert(1)">x</a>'),
    ("js-colon-entity-hex", '<a href="javascript&#x3a;alert(1)">x</a>'),
    ("js-unquoted", "<a href=javascript:alert(1)>x</a>"),
    ("js-title-and-href", '<a title="t" href="javascript:alert(document.cookie)">x</a>'),
    # data: and vbscript:
    ("data-text-html", '<a href="data:text/html,<script>alert(1)</script>">x</a>'),
    ("data-base64", '<a href="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">x</a>'),
    ("data-mixed-case", '<a href="DaTa:text/html,<script>alert(1)</script>">x</a>'),
    ("vbscript", '<a href="vbscript:msgbox(1)">x</a>'),
    ("vbscript-upper", '<a href="VBSCRIPT:msgbox(1)">x</a>'),
    ("file-scheme", '<a href="file:///etc/passwd">x</a>'),
    # SVG
    ("svg-onload", "<svg onload=alert(1)>"),
    ("svg-slash-onload", "<svg/onload=alert(1)>"),
    ("svg-script", "<svg><script>alert(1)</script></svg>"),
    ("svg-a-xlink-href", '<svg><a xlink:href="javascript:alert(1)"><text x="20" y="20">x</text></a></svg>'),
    (
        "svg-animate-href",
        '<svg><a><animate attributeName="href" values="javascript:alert(1)"/><text x="20" y="20">x</text></a></svg>',
    ),
    ("svg-use-data", '<svg><use href="data:image/svg+xml,<svg id=x onload=alert(1)>#x"/></svg>'),
    ("svg-foreignobject", "<svg><foreignObject><iframe src=javascript:alert(1)></iframe></foreignObject></svg>"),
    # embedding elements
    ("iframe-src-js", '<iframe src="javascript:alert(1)"></iframe>'),
    ("iframe-srcdoc", '<iframe srcdoc="<script>alert(1)</script>"></iframe>'),
    ("object-data", '<object data="javascript:alert(1)"></object>'),
    ("embed-src", '<embed src="javascript:alert(1)">'),
    ("frameset", '<frameset><frame src="javascript:alert(1)"></frameset>'),
    # style
    ("style-tag", "<style>body{background:url(javascript:alert(1))}</style>"),
    ("style-tag-import", "<style>@import 'https://evil.example/x.css';</style>"),
    ("style-attr-expression", '<p style="width:expression(alert(1))">x</p>'),
    ("style-attr-url-js", '<p style="background:url(javascript:alert(1))">x</p>'),
    (
        "style-attr-on-a",
        '<a href="https://ok.example" style="position:fixed;top:0;left:0;width:100%;height:100%">x</a>',
    ),
    # images, forms, head elements
    ("img-src-js", '<img src="javascript:alert(1)">'),
    ("img-srcset", '<img srcset="x 1x" onerror="alert(1)">'),
    ("image-tag", "<image src=x onerror=alert(1)>"),
    ("form-action", '<form action="javascript:alert(1)"><button>go</button></form>'),
    ("button-formaction", '<form><button formaction="javascript:alert(1)">go</button></form>'),
    ("input-image", '<input type="image" src="x" onerror="alert(1)">'),
    ("input-text-value", '<input type="text" value="x" onfocus="alert(1)" autofocus>'),
    ("textarea-autofocus", "<textarea autofocus onfocus=alert(1)></textarea>"),
    ("meta-refresh", '<meta http-equiv="refresh" content="0;url=javascript:alert(1)">'),
    (
        "meta-refresh-data",
        '<meta http-equiv="refresh" content="0;url=data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==">',
    ),
    ("base-href", '<base href="https://evil.example/">'),
    ("link-stylesheet", '<link rel="stylesheet" href="https://evil.example/x.css">'),
    ("link-import", '<link rel="import" href="https://evil.example/x.html">'),
    # math
    ("math-href", '<math href="javascript:alert(1)">CLICK</math>'),
    ("math-maction", '<math><maction actiontype="statusline" xlink:href="javascript:alert(1)">x</maction></math>'),
    (
        "math-mglyph-style",
        "<math><mtext><table><mglyph><style><img src=x onerror=alert(1)></style></mglyph></table></mtext></math>",
    ),
    ("math-mtext-script", "<math><mi><script>alert(1)</script></mi></math>"),
    # comments, conditional comments, CDATA
    ("comment-script", "<!-- <script>alert(1)</script> -->"),
    ("comment-breakout", "<!--><script>alert(1)</script>-->"),
    ("comment-bogus-end", "<!-- --!><script>alert(1)</script> -->"),
    ("conditional-comment", "<!--[if IE]><script>alert(1)</script><![endif]-->"),
    ("downlevel-revealed", "<![if !IE]><script>alert(1)</script><![endif]>"),
    ("cdata", "<![CDATA[<script>alert(1)</script>]]>"),
    ("cdata-in-svg", "<svg><![CDATA[<]]>img src=x onerror=alert(1)//</svg>"),
    # broken / unclosed markup
    ("a-unclosed-js", "<a href='javascript:alert(1)'"),
    ("a-unclosed-js-text", "<a href='javascript:alert(1)'>x"),
    ("double-lt-script", "<<script>alert(1)</script>"),
    ("img-unclosed", "<img src=x onerror=alert(1)//"),
    ("tag-in-attr-value", '<a title="<script>alert(1)</script>" href="https://ok.example">x</a>'),
    ("attr-breakout-quote", "<a href=\"https://ok.example\" title='x' onclick='alert(1)'>x</a>"),
    ("noscript-breakout", '<noscript><p title="</noscript><img src=x onerror=alert(1)>"></noscript>'),
    ("textarea-breakout", "<textarea><script>alert(1)</script></textarea>"),
    ("xmp-breakout", '<xmp><p title="</xmp><img src=x onerror=alert(1)>"></xmp>'),
    ("null-in-tag", "<scr\x00ipt>alert(1)</script>"),
    ("template", "<template><script>alert(1)</script></template>"),
    # Markdown-specific vectors (meant for render_markdown; clean() sees them as text)
    ("md-link-js", "[x](javascript:alert(1))"),
    ("md-link-js-upper", "[x](JAVASCRIPT:alert(1))"),
    ("md-link-js-angle", "[x](<javascript:alert(1)>)"),
    ("md-link-js-entity", "[x](&#106;avascript:alert(1))"),
    ("md-link-js-percent-tab", "[x](java%09script:alert(1))"),
    ("md-link-js-angle-tab", "[x](<java\tscript:alert(1)>)"),
    ("md-link-js-entity-tab", "[x](java&#9;script:alert(1))"),
    ("md-link-js-leading-space-angle", "[x](< javascript:alert(1)>)"),
    ("md-link-js-backslash-escape", "[x](javascript\\:alert(1))"),
    ("md-link-data", "[x](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)"),
    ("md-link-vbscript", "[x](vbscript:msgbox(1))"),
    ("md-link-title-breakout", '[x](https://ok.example "t\\" onclick=\\"alert(1))'),
    ("md-autolink-js", "<javascript:alert(1)>"),
    ("md-autolink-data", "<data:text/html,<script>alert(1)</script>>"),
    ("md-image-onerror", '![img](x" onerror="alert(1))'),
    ("md-image-js", "![img](javascript:alert(1))"),
    ("md-reference-link-js", "[x][1]\n\n[1]: javascript:alert(1)"),
    ("md-reference-link-data", "[x][1]\n\n[1]: data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
    ("md-raw-html-block", "<div>\n<script>alert(1)</script>\n</div>\n\ntext"),
    ("md-raw-html-inline", "hello <img src=x onerror=alert(1)> world"),
    ("md-raw-html-in-list", '- item <a href="javascript:alert(1)">x</a>\n- <script>alert(1)</script>'),
    ("md-html-in-code-span", "`<script>alert(1)</script>`"),
    ("md-fenced-html", "```html\n<script>alert(1)</script>\n```"),
    ("md-link-text-html", "[<img src=x onerror=alert(1)>](https://ok.example)"),
]


class _Collector(HTMLParser):
    """Collects every start tag (with its attributes) and every comment / declaration in the output."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, list[tuple[str, str | None]]]] = []
        self.other: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_startendtag(self, tag, attrs):
        self.tags.append((tag, attrs))

    def handle_comment(self, data):
        self.other.append(f"<!--{data}-->")

    def handle_decl(self, decl):
        self.other.append(f"<!{decl}>")

    def unknown_decl(self, data):
        self.other.append(f"<![{data}]>")

    def handle_pi(self, data):
        self.other.append(f"<?{data}>")


def _normalize_href(value: str) -> str:
    """What a browser looks at for the scheme: whitespace and control characters gone, lowercased.

    ``value`` comes from ``HTMLParser``, which has already run ``html.unescape`` on the attribute (exactly
    once, as a browser does). Unescaping a second time would turn the *literal* text of a safely escaped
    href (``javascript&amp;colon;x`` in the markup is the relative path ``javascript&colon;x``) into a
    false alarm.
    """
    value = "".join(ch for ch in value if not ch.isspace() and not unicodedata.category(ch).startswith("C"))
    return value.lower()


# A URL scheme per the WHATWG URL standard: an ASCII letter, then letters, digits, "+", "-" or ".".
_SCHEME = re.compile(r"[a-z][a-z0-9+.\-]*")


def _href_is_safe(value: str) -> bool:
    href = _normalize_href(value)
    if href.startswith(SAFE_SCHEMES):
        return True
    colon = href.find(":")
    if colon == -1:
        return True
    # Relative: no ":" before the first "/", "?" or "#".
    cut = min((i for i in (href.find(c) for c in "/?#") if i != -1), default=len(href))
    if colon > cut:
        return True
    # A ":" that follows text which cannot be a scheme (e.g. "java%09script:" — browsers never
    # percent-decode a scheme) leaves a relative path, not a javascript: URL.
    return not _SCHEME.fullmatch(href[:colon])


def policy_violations(output: str) -> list[str]:
    """Every way ``output`` breaks the policy; empty when it is safe."""
    problems: list[str] = []
    if "<script" in output.lower():
        problems.append("'<script' in output")
    parser = _Collector()
    parser.feed(output)
    parser.close()
    problems.extend(f"comment/declaration survived: {o!r}" for o in parser.other)
    for tag, attrs in parser.tags:
        if tag not in sanitize.TAGS:
            problems.append(f"tag <{tag}> not allowed")
        allowed = set(sanitize.ATTRIBUTES.get(tag, ()))
        for name, value in attrs:
            if name.startswith(FORBIDDEN_ATTR_PREFIXES) or name in FORBIDDEN_ATTRS:
                problems.append(f"<{tag} {name}={value!r}> forbidden attribute")
            elif name not in allowed:
                problems.append(f"<{tag} {name}={value!r}> attribute not in the allowlist")
            if name == "href" and not _href_is_safe(value or ""):
                problems.append(f"<{tag} href={value!r}> unsafe scheme")
        if tag == "a":
            rels = [value for name, value in attrs if name == "rel"]
            if rels != [REL]:
                problems.append(f"<a> rel is {rels!r}, expected [{REL!r}]")
    return problems


def _params():
    return [pytest.param(payload, id=name) for name, payload in PAYLOADS]


def test_corpus_is_big_enough_and_ids_unique():
    assert len(PAYLOADS) >= 70
    names = [name for name, _ in PAYLOADS]
    assert len(names) == len(set(names))


@pytest.mark.parametrize("payload", _params())
def test_clean_neutralizes(payload):
    output = clean(payload)
    assert policy_violations(output) == [], output


@pytest.mark.parametrize("payload", _params())
def test_render_markdown_neutralizes(payload):
    output = render_markdown(payload)
    assert policy_violations(output) == [], output


# The checker itself must catch what it is meant to catch, or the corpus tests prove nothing.
@pytest.mark.parametrize(
    "bad",
    [
        pytest.param("<script>alert(1)</script>", id="script"),
        pytest.param("<img src=x>", id="img"),
        pytest.param('<p onclick="x">a</p>', id="onclick"),
        pytest.param('<p hx-get="/x">a</p>', id="hx-get"),
        pytest.param('<p data-x="1">a</p>', id="data-attr"),
        pytest.param('<p style="x">a</p>', id="style"),
        pytest.param(f'<a href="javascript:alert(1)" rel="{REL}">a</a>', id="js-href"),
        pytest.param(f'<a href="&#106;ava&#x09;script:alert(1)" rel="{REL}">a</a>', id="js-href-entities"),
        pytest.param(f'<a href=" data:text/html,x" rel="{REL}">a</a>', id="data-href"),
        pytest.param(f'<a href="x-unknown:foo" rel="{REL}">a</a>', id="unknown-scheme"),
        pytest.param('<a href="https://ok.example">a</a>', id="missing-rel"),
        pytest.param('<a href="https://ok.example" rel="noopener">a</a>', id="wrong-rel"),
        pytest.param("<!--[if IE]><![endif]-->", id="comment"),
    ],
)
def test_checker_flags_bad_html(bad):
    assert policy_violations(bad)


# ...and must not cry wolf at hrefs a browser resolves as harmless relative paths.
@pytest.mark.parametrize(
    "href",
    [
        pytest.param("/about:team", id="colon-after-slash"),
        pytest.param("?q=a:b", id="colon-in-query"),
        pytest.param("#x:y", id="colon-in-fragment"),
        pytest.param("java%09script:alert(1)", id="percent-encoded-not-a-scheme"),
        pytest.param("javascript&amp;colon;alert(1)", id="escaped-entity-is-literal-text"),
        pytest.param("&amp;#106avascript:alert(1)", id="escaped-charref-is-literal-text"),
    ],
)
def test_checker_accepts_relative_href(href):
    assert policy_violations(f'<a href="{href}" rel="{REL}">x</a>') == []


# Positive tests: the policy is not "strip everything".


def _tags(output: str) -> list[str]:
    parser = _Collector()
    parser.feed(output)
    parser.close()
    return [tag for tag, _ in parser.tags]


def _links(output: str) -> list[dict[str, str | None]]:
    parser = _Collector()
    parser.feed(output)
    parser.close()
    return [dict(attrs) for tag, attrs in parser.tags if tag == "a"]


def test_ordinary_markdown_renders():
    source = (
        "## Section\n\n"
        "### Sub\n\n"
        "Some *emphasis* and **strong** and `code`.\n\n"
        "- one\n- two\n\n"
        "3. three\n4. four\n\n"
        "> quoted\n\n"
        "```\nprint('hi')\n```\n\n"
        "---\n\n"
        'See [the site](https://example.org/page?a=1&b=2 "Title").\n'
    )
    output = render_markdown(source)
    assert policy_violations(output) == [], output
    tags = set(_tags(output))
    for expected in ("h2", "h3", "p", "em", "strong", "code", "ul", "ol", "li", "blockquote", "pre", "hr", "a"):
        assert expected in tags, (expected, output)
    assert '<ol start="3">' in output
    assert "<li>one</li>" in output
    assert "print('hi')" in html.unescape(output)
    [link] = _links(output)
    assert link["href"] == "https://example.org/page?a=1&b=2"
    assert link["title"] == "Title"
    assert link["rel"] == REL


def test_https_link_keeps_href_and_gets_rel():
    output = render_markdown("[site](https://example.org/)")
    assert output.strip() == f'<p><a href="https://example.org/" rel="{REL}">site</a></p>'


def test_clean_adds_rel_and_drops_target():
    output = clean('<a href="http://example.org/" target="_blank" rel="opener">x</a>')
    [link] = _links(output)
    assert link == {"href": "http://example.org/", "rel": REL}


def test_mailto_link_survives():
    output = render_markdown("[mail us](mailto:editor@example.org)")
    [link] = _links(output)
    assert link["href"] == "mailto:editor@example.org"
    assert link["rel"] == REL
    assert "mail us" in output
    [link] = _links(clean('<a href="mailto:editor@example.org">mail</a>'))
    assert link["href"] == "mailto:editor@example.org"


def test_relative_link_survives():
    [link] = _links(render_markdown("[about](/about#team)"))
    assert link["href"] == "/about#team"
    assert link["rel"] == REL


@pytest.mark.parametrize("render", [clean, render_markdown], ids=["clean", "render_markdown"])
def test_less_than_and_ampersand_are_escaped_not_lost(render):
    output = render("1 < 2 & 3 > 2")
    assert "&lt;" in output
    assert "&amp;" in output
    assert html.unescape(output).replace("<p>", "").replace("</p>", "").strip() == "1 < 2 & 3 > 2"


def test_raw_html_in_markdown_shows_as_text():
    output = render_markdown("<b>bold</b> text")
    assert "<b>" not in output
    assert "&lt;b&gt;bold&lt;/b&gt; text" in output


def test_title_becomes_h2():
    output = render_markdown("# Title\n\nBody")
    assert "<h1" not in output
    assert output.startswith("<h2>Title</h2>")
    assert "<p>Body</p>" in output


def test_a_bare_address_in_an_article_becomes_a_link_with_the_same_rel():
    output = render_markdown("Read https://example.org/report?id=7&lang=be for the details.")
    [link] = _links(output)
    assert link == {"href": "https://example.org/report?id=7&lang=be", "rel": REL}
    assert ">https://example.org/report?id=7&amp;lang=be</a> for the details." in output
    assert policy_violations(output) == [], output


def test_a_bare_address_in_code_stays_text():
    for source in ("`https://example.org/`", "```\nhttps://example.org/\n```"):
        output = render_markdown(source)
        assert _links(output) == [], output
        assert "https://example.org/" in output


def test_a_bare_address_with_a_script_scheme_is_not_a_link():
    output = render_markdown("javascript:alert(1) and data:text/html,x")
    assert _links(output) == [], output
