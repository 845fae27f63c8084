"""Load the app under gunicorn with wrk and print requests/s and p50/p95/p99 per page, beside a bare
"hello" route served by the same server in the same run. Appends the results to bench/RESULTS.md.

    .venv/bin/python bench/run.py                      # 100k submissions, SQLite, 3 rounds of 6 s per target
    .venv/bin/python bench/run.py --count 1000 --rounds 1
    .venv/bin/python bench/run.py --database postgresql+psycopg://postgres@127.0.0.1:5432/bench \
        --redis redis://127.0.0.1:6379                 # the page caches learn of changes through Redis

Needs wrk (Debian package `wrk`). The database is made fresh in a temporary folder (SQLite) or dropped and
made again (PostgreSQL), then filled by bench/generate.py.
"""

from __future__ import annotations

import argparse
import datetime
import http.cookiejar
import json
import multiprocessing
import os
import platform
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PY = sys.executable
PASSWORD = "bench-password-123"


def sh(args, env, **kw):
    return subprocess.run(args, env=env, cwd=ROOT, check=True, **kw)


def wait_for(url: str, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            urllib.request.urlopen(url, timeout=2).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer")


def sign_in(base: str) -> tuple[str, str, str]:
    """Sign in as the bench admin; return (cookie header, CSRF token, id of the first pending item)."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    page = opener.open(base + "/auth/login").read().decode()
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', page).group(1)
    data = urllib.parse.urlencode({"csrf_token": token, "username": "bench", "password": PASSWORD}).encode()
    opener.open(base + "/auth/login", data=data).read()
    queue = opener.open(base + "/moderation").read().decode()
    first = int(re.search(r'<li id="row-(\d+)"', queue).group(1))
    token = re.search(r'"X-CSRFToken": "([^"]+)"', queue).group(1)
    cookie = "; ".join(f"{c.name}={c.value}" for c in jar)
    return cookie, token, first


# Queries drawn from the generated texts in three languages: common words (each in about a fifth of all
# items), a prefix, two words, and words that match nothing.
SEARCHES = [
    "family",
    "лист",
    "колония",
    "пасылка",
    "electrician",
    "адвок",
    "work room",
    "сям'я дапамога",
    "zzzz",
    "nothing matches",
]


class Scripts:
    """The wrk scripts of one run, each ending with report.lua's summary."""

    def __init__(self, workdir: str, cookie: str):
        self.workdir, self.cookie = workdir, cookie
        self.get = os.path.join(ROOT, "bench", "report.lua")
        self.post = self._write("post", read("post.lua"))
        self.staff = self._write("staff", self._cookie_line())

    def _cookie_line(self) -> str:
        return f'wrk.headers["Cookie"] = "{self.cookie}"\n'

    def _write(self, name: str, body: str) -> str:
        path = os.path.join(self.workdir, f"{name}.lua")
        with open(path, "w") as f:
            f.write(body + "\n" + read("report.lua"))
        return path

    def paths(self, name: str, paths: list[str], staff: bool = False) -> str:
        """A script that goes round these paths (as a signed-in moderator if ``staff``)."""
        listing = os.path.join(self.workdir, f"{name}.txt")
        with open(listing, "w") as f:
            f.write("\n".join(paths) + "\n")
        return self._write(
            name, (self._cookie_line() if staff else "") + f'paths_file = "{listing}"\n' + read("paths.lua")
        )


def read(name: str) -> str:
    with open(os.path.join(ROOT, "bench", name)) as f:
        return f.read()


def median_round(name: str, runs: list, baseline: list) -> tuple:
    """The round with the median rate, so that one disturbed round does not make the figure; and the median of
    the rate's ratio to the baseline's in the same round (the machine's speed drifts between rounds)."""
    # (a target that runs in the first round only, such as approving, is held against that round's baseline)
    ratios = sorted(run[1]["rps"] / base[1]["rps"] for run, base in zip(runs, baseline[: len(runs)], strict=True))
    path, result = sorted(runs, key=lambda run: run[1]["rps"])[len(runs) // 2]
    return name, path, result | {"ratio": ratios[len(ratios) // 2]}


def wrk(url: str, seconds: int, connections: int, threads: int, script: str, env=None) -> dict:
    out = subprocess.run(
        ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "-s", script, url],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    result["rps"] = result["requests"] / result["seconds"]
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=6)
    parser.add_argument("--rounds", type=int, default=3, help="run every target this many times; report the median")
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--database", default="")
    parser.add_argument("--port", type=int, default=5077)
    parser.add_argument(
        "--redis", default="", metavar="URL", help="the page cache's Redis (PAGE_CACHE_REDIS_URL), as on PostgreSQL"
    )
    parser.add_argument("--no-write", action="store_true", help="do not append to bench/RESULTS.md")
    parser.add_argument(
        "--only",
        action="append",
        default=[],
        metavar="TARGET",
        help="run only the targets whose names contain this (repeatable); hello always runs",
    )
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is missing: apt-get install wrk")

    workdir = tempfile.mkdtemp(prefix="prystan-bench-")
    database = args.database or f"sqlite:///{workdir}/bench.db"
    env = os.environ | {
        "PRYSTAN_SECRET_KEY": "bench-" + "k" * 40,
        "PRYSTAN_DATABASE_URL": database,
        "PRYSTAN_STORAGE_URL": f"{workdir}/uploads",
        "PRYSTAN_UPLOAD_WORKDIR": f"{workdir}/incoming",
        "PRYSTAN_RATELIMIT_ENABLED": "false",
        "PRYSTAN_POW_ENABLED": "false",
        "PRYSTAN_SESSION_COOKIE_SECURE": "false",
        "PRYSTAN_BENCH_HELLO": "true",
        "GUNICORN_BIND": f"127.0.0.1:{args.port}",
        "PRYSTAN_PAGE_CACHE_REDIS_URL": json.dumps(args.redis or False),
    }
    if database.startswith("postgresql"):
        from sqlalchemy import create_engine, text

        with create_engine(database).begin() as conn:
            conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    flask = [PY, "-m", "flask", "--app", "wsgi"]
    sh([*flask, "db", "upgrade"], env, capture_output=True)
    started = time.time()
    sh([PY, "bench/generate.py", "--count", str(args.count)], env)
    print(f"generated in {time.time() - started:.1f} s")

    server = subprocess.Popen([PY, "-m", "gunicorn", "--config", "gunicorn.conf.py", "wsgi:app"], env=env, cwd=ROOT)
    base = f"http://127.0.0.1:{args.port}"
    try:
        wait_for(base + "/bench/hello")
        cookie, token, _first = sign_in(base)
        scripts = Scripts(workdir, cookie)
        ids_file = os.path.join(workdir, "pending.txt")
        write_pending_ids(database, ids_file)
        deep = deep_ads_page(base)
        ad_url = first_ad(base)
        threads = 2
        readers, staff = args.connections, 2  # a handful of moderators work at once, many readers
        reader_searches = scripts.paths("reader-search", [f"/ads?q={urllib.parse.quote(w)}" for w in SEARCHES])
        staff_searches = [f"/moderation?q={urllib.parse.quote(w)}" for w in SEARCHES]
        targets = [
            ("hello (baseline)", "/bench/hello", scripts.get, readers, None),
            ("home", "/", scripts.get, readers, None),
            ("/ads first page", "/ads", scripts.get, readers, None),
            ("/ads deep page", deep, scripts.get, readers, None),
            ("/ads search, 10 queries", "/ads?q=…", reader_searches, readers, None),
            # Every request a page not made before: what a search costs the server, at a load it can carry.
            ("/ads search, uncached", "/ads?q=…&n=…", reader_searches, staff, {"BENCH_UNIQUE": "1"}),
            ("an ad", ad_url, scripts.get, readers, None),
            ("form submission (no files)", "/submit/information", scripts.post, readers, {"BENCH_KIND": "submit"}),
            ("hello, 2 connections", "/bench/hello", scripts.get, staff, None),
            ("moderation queue", "/moderation", scripts.staff, staff, None),
            (
                "queue search, 10 queries",
                "/moderation?q=…",
                scripts.paths("staff-search", staff_searches, staff=True),
                staff,
                None,
            ),
            (
                "its tab counts",
                "/moderation/counts?q=…",
                scripts.paths("staff-counts", [p.replace("?", "/counts?") for p in staff_searches], staff=True),
                staff,
                None,
            ),
            (
                "approve action",
                "/moderation",
                scripts.post,
                staff,
                {"BENCH_KIND": "approve", "BENCH_IDS": ids_file, "BENCH_THREADS": str(threads)},
            ),
        ]
        if args.only:
            targets = [t for t in targets if t[0] == "hello (baseline)" or any(o in t[0] for o in args.only)]
        rounds: dict[str, list] = {}
        for round_ in range(args.rounds):
            for name, path, script, connections, extra in targets:
                if name == "approve action" and round_:
                    continue  # each pending item is approved once: one round only
                close = {"BENCH_CLOSE": "1"} if connections == staff else {}  # see report.lua
                result = wrk(
                    base + ("/" if "…" in path else path),
                    args.seconds,
                    connections,
                    threads,
                    script,
                    env=os.environ | (extra or {}) | close | {"BENCH_COOKIE": cookie, "BENCH_TOKEN": token},
                )
                result["connections"] = connections
                rounds.setdefault(name, []).append((path, result))
                print(
                    f"{name:30s} {result['rps']:8.1f} req/s  p50 {result['p50_ms']:6.1f}  "
                    f"p95 {result['p95_ms']:6.1f}  p99 {result['p99_ms']:6.1f} ms  errors {result['errors']} "
                    f"non-2xx/3xx {result['non2xx_3xx']}"
                )
        baseline = rounds["hello (baseline)"]
        results = [median_round(name, runs, baseline) for name, runs in rounds.items()]
    finally:
        server.terminate()
        server.wait(timeout=20)
    if not args.no_write:
        write_results(args, database, results)
    shutil.rmtree(workdir, ignore_errors=True)


def write_pending_ids(database: str, path: str) -> None:
    """The pending items, oldest first: the approve benchmark acts on each once."""
    from sqlalchemy import create_engine, text

    engine = create_engine(database)
    with engine.connect() as conn:
        ids = conn.execute(text("SELECT id FROM submissions WHERE status = 'pending' ORDER BY id")).scalars().all()
    engine.dispose()
    with open(path, "w") as f:
        f.write("\n".join(map(str, ids)) + "\n")


def deep_ads_page(base: str, pages: int = 20) -> str:
    """Follow 'Older ads' a number of times; return the path of that page."""
    path = "/ads"
    for _ in range(pages):
        html = urllib.request.urlopen(base + path).read().decode()
        match = re.search(r'<a class="button" href="(/ads\?[^"]+)">', html)
        if not match:
            break
        path = match.group(1).replace("&amp;", "&")
    return path


def first_ad(base: str) -> str:
    html = urllib.request.urlopen(base + "/ads").read().decode()
    return re.search(r'<h\d id="ad-[^"]+-title"><a href="([^"]+)"', html).group(1)


def write_results(args, database: str, results) -> None:
    engine = "PostgreSQL" if database.startswith("postgresql") else "SQLite"
    lines = [
        f"\n## {datetime.date.today().isoformat()} · {engine} · {args.count:,} submissions\n",
        f"Machine: {platform.node()}, {multiprocessing.cpu_count()} cores, Python {platform.python_version()}; "
        f"gunicorn.conf.py ({multiprocessing.cpu_count() * 2} workers × 4 threads); wrk 2 threads, "
        f"{args.seconds} s per target, {args.rounds} rounds, each line the round with the median rate; readers' "
        f"pages with {args.connections} connections, staff pages with 2 (a new connection per request). % of hello: "
        f"the median over the rounds of the rate against the first line's in the same round"
        f"{'; page cache through Redis' if args.redis else ''}.\n",
        "| Target | Path | connections | req/s | % of hello | p50 ms | p95 ms | p99 ms | errors |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, path, r in results:
        lines.append(
            f"| {name} | `{path[:40]}` | {r['connections']} | {r['rps']:.0f} | "
            f"{100 * r['ratio']:.0f}% | "
            f"{r['p50_ms']:.1f} | {r['p95_ms']:.1f} | {r['p99_ms']:.1f} | "
            f"{r['errors'] + r['non2xx_3xx']} |"
        )
    with open(os.path.join(ROOT, "bench", "RESULTS.md"), "a") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
