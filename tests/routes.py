"""URLs of the URL map's rules with their arguments filled in: one helper for every test that walks the map."""

import re

PUBLIC_ID = "z" * 12  # well-formed, names nothing
DEFAULTS = {
    "submission_id": "1",
    "user_id": "1",
    "attachment_id": "1",
    "article_id": "1",
    "ad_id": PUBLIC_ID,
    "image_id": PUBLIC_ID,
    "index": "0",
    "slug": "x",
    "filename": "css/site.css",
    "lang": "be",
    "upload_id": "0" * 32,
    "key_id": "1",
}


def url_of(rule, **values) -> str:
    """The rule's path with each argument replaced by ``values`` or a default of the right shape."""
    chosen = DEFAULTS | values
    return re.sub(r"<(?:[^:>]+:)?(\w+)>", lambda m: str(chosen[m.group(1)]), rule.rule)


def public_posts(ad: str = PUBLIC_ID) -> list[str]:
    """The public forms' addresses (``ad``: the public id of the ad to report)."""
    return ["/submit/information", "/submit/contact", "/submit/ad", "/status", "/status/withdraw", "/status/renew",
            "/status/close", "/status/reply", "/status/edit", "/uploads", f"/ads/{ad}/report",
            "/auth/login"]  # fmt: skip
