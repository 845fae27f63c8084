"""Where the app's own log lines go: standard error, which systemd keeps in the journal (deploy/), set up once at
start by create_app, so that gunicorn's workers and the command line write the same lines.

Nothing else sets this up: gunicorn configures only its own loggers, Flask gives the app's logger a handler but
leaves its level at WARNING, and Python's last resort prints WARNING and above. The security events
(``prystan.security``, app/seclog.py) are INFO, and so went nowhere, as did the sandbox's report at start.

Only these loggers, never the root one: a library's INFO lines are not ours to vouch for (what they may carry).
What the app's lines hold is kept to what SECURITY.md lists (seclog's allowlist; the rest name kinds of errors).
"""

from __future__ import annotations

import logging
import sys

LOGGERS = ("prystan", "app")  # the security events; the app's own (Flask's app.logger and app.* modules)
FORMAT = "[%(asctime)s] [%(process)d] [%(levelname)s] %(name)s: %(message)s"  # (gunicorn's own, with the logger)


class StandardError(logging.StreamHandler):
    """Writes to ``sys.stderr`` as it is at each line, not as it was when the app was made (a test runner swaps it)."""

    def __init__(self):
        super().__init__()
        self.setFormatter(logging.Formatter(FORMAT, datefmt="%Y-%m-%d %H:%M:%S %z"))

    @property
    def stream(self):
        return sys.stderr

    @stream.setter
    def stream(self, _value):
        pass


def configure() -> None:
    """Send the app's INFO lines and above to standard error; once per process, however many apps are made."""
    for name in LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(handler, StandardError) for handler in logger.handlers):
            logger.addHandler(StandardError())
        if logger.level == logging.NOTSET:  # (a level set on purpose stays)
            logger.setLevel(logging.INFO)
        logger.propagate = False  # (a handler on the root logger, alembic's or gunicorn's, would write it twice)
