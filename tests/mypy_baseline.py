"""Run mypy (pyproject.toml [tool.mypy]: strict on app/submissions/, app/uploads/, app/staff.py, app/sessions.py) and
compare its errors with the checked-in list of those already there, mypy-baseline.txt, which may only shrink.

An error is its file, code and message, without the line number (so that an edit above it changes nothing); the same
error twice in a file is listed twice. Fails on an error not in the list, and on a listed error that is gone (remove
it: `python tests/mypy_baseline.py --write` does, and refuses while there is a new error; it writes a whole list only
where there is none). Run by `make lint`.

    python tests/mypy_baseline.py [--baseline FILE] [--write] [files... (default: [tool.mypy] files)]
"""

import argparse
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

ERROR = re.compile(r"^(?P<path>[^:]+):\d+(?::\d+)?: error: (?P<message>.*?)  \[(?P<code>[a-z-]+)\]$")


def errors(output: str) -> Counter[str]:
    """mypy's error lines as `path: [code] message`, counted; a line number inside a message becomes N."""
    found: Counter[str] = Counter()
    for line in output.splitlines():
        match = ERROR.match(line)
        if match:
            message = re.sub(r"\bline \d+", "line N", match["message"])
            found[f"{match['path']}: [{match['code']}] {message}"] += 1
    return found


def compare(current: Counter[str], baseline: Counter[str]) -> tuple[list[str], list[str]]:
    """The errors mypy found that the baseline does not list, and those it lists that mypy no longer finds."""
    return sorted((current - baseline).elements()), sorted((baseline - current).elements())


def run_mypy(files: list[str]) -> str:
    command = [sys.executable, "-m", "mypy", "--no-pretty", "--no-error-summary", "--hide-error-context"]
    done = subprocess.run(
        [*command, "--show-error-codes", "--no-color-output", *files], capture_output=True, text=True, check=False
    )
    if done.returncode not in (0, 1):  # 2: mypy itself failed (a bad configuration, a syntax error)
        sys.exit(f"mypy failed:\n{done.stdout}{done.stderr}")
    return done.stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--baseline", default="mypy-baseline.txt")
    parser.add_argument("--write", action="store_true", help="drop the fixed errors from the baseline")
    parser.add_argument("files", nargs="*")
    args = parser.parse_args()
    path = Path(args.baseline)
    current = errors(run_mypy(args.files))
    if args.write and not path.exists():
        path.write_text("".join(f"{line}\n" for line in sorted(current.elements())))
        print(f"{path}: {sum(current.values())} errors")
        return 0
    baseline = Counter(path.read_text().splitlines()) if path.exists() else Counter()
    new, gone = compare(current, baseline)
    if new:
        print(f"{len(new)} type errors not in {path} (fix them; the baseline only shrinks):")
        print("\n".join(f"  {line}" for line in new))
    if gone and args.write and not new:
        path.write_text("".join(f"{line}\n" for line in sorted(current.elements())))
        print(f"{len(gone)} fixed errors removed from {path}")
    elif gone:
        print(f"{len(gone)} errors listed in {path} are fixed: remove them from {path} (--write does):")
        print("\n".join(f"  {line}" for line in gone))
    return 1 if new or (gone and not args.write) else 0


if __name__ == "__main__":
    sys.exit(main())
