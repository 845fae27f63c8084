"""The JavaScript we ship but did not write: exactly the released files, pinned by checksum. Updating one means
downloading the release from its registry, checking it, and changing its line here and in README's Layout."""

import hashlib
import os

import pytest

from app import ROOT

VENDORED = {
    # htmx 2.0.11 (npm: htmx.org, dist/htmx.min.js)
    "static/js/htmx.min.js": "d6fdc75f204e6bdefa99b69bf1e6d4ac69b8a364f77929f45c13476b4000f717",
    # tus-js-client 4.3.1 (npm: tus-js-client, dist/tus.min.js; the package's integrity is
    # sha512-ZLeYmjrkaU1fUsKbIi8JML52uAocjEZtBx4DKjRrqzrZa0O4MYwT6db+oqePlspV+FxXJAyFBc/L5gwUi2OFsg==)
    "static/js/tus.min.js": "8cbb1b63fccc3bba0ae73ad1deb160ce046c3750851d0c3e94921ae3ef070eb8",
}


@pytest.mark.parametrize(("path", "digest"), VENDORED.items())
def test_vendored_files_are_the_released_ones(path, digest):
    with open(os.path.join(ROOT, path), "rb") as f:
        assert hashlib.sha256(f.read()).hexdigest() == digest


def test_tus_js_client_needs_no_eval_under_our_csp():
    """(htmx has eval paths, switched off by its allowEval: false setting; the CSP forbids them anyway.)"""
    with open(os.path.join(ROOT, "static/js/tus.min.js"), encoding="utf-8") as f:
        text = f.read()
    assert "eval(" not in text and "new Function(" not in text
