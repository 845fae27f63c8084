"""The type check's baseline (tests/mypy_baseline.py, run by make lint): an error not in mypy-baseline.txt fails,
and so does a listed error that is gone, so that the list only shrinks. Real mypy runs on a small module here."""

import subprocess
import sys
from collections import Counter
from pathlib import Path

from app import ROOT
from tests import mypy_baseline

BAD = "def half(n: int) -> int:\n    return n / 2\n"
WORSE = BAD + "\n\ndef name() -> str:\n    return 1\n"


def run(tmp_path, source: str, baseline: str | None, *extra: str) -> subprocess.CompletedProcess:
    (tmp_path / "sample.py").write_text(source)
    if baseline is not None:
        (tmp_path / "baseline.txt").write_text(baseline)
    return subprocess.run(
        [
            sys.executable,
            str(Path(ROOT) / "tests" / "mypy_baseline.py"),
            "--baseline",
            "baseline.txt",
            *extra,
            "sample.py",
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )


def test_an_error_is_named_by_file_code_and_message_without_its_line():
    output = (
        'app/a.py:12: error: Incompatible return value type (got "float", expected "int")  [return-value]\n'
        "app/a.py:40: note: By default the bodies of untyped functions are not checked  [annotation-unchecked]\n"
        'app/b.py:7: error: Name "x" already defined on line 3  [no-redef]\n'
        'app/b.py:9: error: Name "x" already defined on line 5  [no-redef]\n'
    )
    assert mypy_baseline.errors(output) == Counter(
        {
            'app/a.py: [return-value] Incompatible return value type (got "float", expected "int")': 1,
            'app/b.py: [no-redef] Name "x" already defined on line N': 2,
        }
    )


def test_new_errors_and_gone_ones_are_both_refused():
    baseline = Counter({"a.py: [x] one": 2, "b.py: [y] two": 1})
    assert mypy_baseline.compare(baseline, baseline) == ([], [])
    new, gone = mypy_baseline.compare(Counter({"a.py: [x] one": 3}), baseline)
    assert new == ["a.py: [x] one"]
    assert gone == ["b.py: [y] two"]


def test_the_check_passes_on_the_baseline_and_fails_on_a_new_error_or_a_fixed_one(tmp_path):
    first = run(tmp_path, BAD, None, "--write")  # a baseline is made once, where there is none
    assert first.returncode == 0, first.stdout + first.stderr
    written = (tmp_path / "baseline.txt").read_text()
    assert written == 'sample.py: [return-value] Incompatible return value type (got "float", expected "int")\n'
    assert run(tmp_path, BAD, written).returncode == 0

    worse = run(tmp_path, WORSE, written)
    assert worse.returncode == 1
    assert 'sample.py: [return-value] Incompatible return value type (got "int", expected "str")' in worse.stdout

    fixed = run(tmp_path, "def half(n: int) -> float:\n    return n / 2\n", written)
    assert fixed.returncode == 1
    assert "fixed: remove them from baseline.txt" in fixed.stdout


def test_an_empty_baseline_takes_no_error(tmp_path):
    refused = run(tmp_path, BAD, "", "--write")
    assert refused.returncode == 1
    assert (tmp_path / "baseline.txt").read_text() == ""


def test_the_baseline_is_not_written_over_a_new_error(tmp_path):
    run(tmp_path, BAD, None, "--write")
    refused = run(tmp_path, WORSE, (tmp_path / "baseline.txt").read_text(), "--write")
    assert refused.returncode == 1
    assert "str" not in (tmp_path / "baseline.txt").read_text()


def test_the_checked_in_baseline_is_sorted_and_has_no_line_numbers():
    lines = (Path(ROOT) / "mypy-baseline.txt").read_text().splitlines()
    assert lines == sorted(lines)
    assert all(": [" in line and not line.split(":")[1].strip().isdigit() for line in lines)
