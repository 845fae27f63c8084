"""Run inside the decoder sandbox by tests/test_sandbox.py: confine exactly as the scrubber does, then try what
an exploited decoder would try, and report each attempt. Started by app.uploads.sandbox.Child like the scrubber."""

import encodings.idna  # noqa: F401  (socket addresses go through it; loaded before the file system closes)
import json
import os
import socket
import subprocess
import sys

sys.path.insert(
    0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))), "app", "uploads")
)
import scrub


def attempt(action) -> str:
    try:
        action()
    except OSError as error:
        return f"refused: {type(error).__name__}"
    return "ALLOWED"


def read(path: str):
    with open(path, "rb") as f:
        f.read(16)


def connect(port: int):
    with socket.create_connection(("127.0.0.1", port), timeout=2):
        pass


def main() -> None:
    settings = json.loads(sys.stdin.readline())
    scrub.confine(settings)
    targets = json.loads(sys.stdin.readline())
    report = {
        "uid": os.getuid(),
        "environ": dict(os.environ),
        "parent environ": attempt(lambda: read(f"/proc/{os.getppid()}/environ")),
        "cwd listing": attempt(lambda: os.listdir(".") and sys.exit("the working folder is not empty")),
        "connect": attempt(lambda: connect(targets["port"])),
        "fork": attempt(lambda: os.waitpid(pid, 0) if (pid := os.fork()) else os._exit(0)),
        "shell": attempt(lambda: subprocess.run(["/bin/sh", "-c", "true"], input=b"", capture_output=True)),
    }
    for path in targets["files"]:
        report[path] = attempt(lambda path=path: read(path))
    for path in targets["folders"]:
        report[path] = attempt(lambda path=path: os.listdir(path))
    sys.stdout.write(json.dumps(report) + "\n")


if __name__ == "__main__":
    main()
