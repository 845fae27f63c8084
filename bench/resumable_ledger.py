"""What one creation costs the resumable store as it fills (issue 22, items 3-4, review finding 8): the check for
room and the reservation, with N uploads waiting in the store (each with a holder tag, as with limits on).
Before the ledger, each creation opened every upload's info.json (0.9 s at 20,000 reported by the review).

    .venv/bin/python bench/resumable_ledger.py [--uploads 20000] [--old PATH]

--old PATH: measure a former app/uploads/resumable.py instead (``git show REV:app/uploads/resumable.py > PATH``),
whose check was ``room()`` then ``create()``.
"""

import argparse
import importlib.util
import os
import secrets
import statistics
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from app.uploads import sealing  # noqa: E402


def load(path: str | None):
    if not path:
        from app.uploads import resumable

        return resumable
    spec = importlib.util.spec_from_file_location("old_resumable", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def fill(module, store, count: int) -> None:
    """``count`` uploads of 1 kB expected, in 1,000 form sessions, written as the store writes them."""
    keys = [sealing.new_key() for _ in range(1000)]
    for n in range(count):
        key = keys[n % len(keys)]
        owner = os.path.join(store.root, sealing.owner_of(key))
        os.makedirs(owner, exist_ok=True)
        upload_id = secrets.token_hex(16)
        folder = os.path.join(owner, upload_id)
        os.mkdir(folder)
        now = store.clock()
        kind = getattr(module, "PendingUpload", None) or module.Upload  # (named Upload before issue 23)
        upload = kind(
            id=upload_id, folder=folder, length=1000, created=now, expires=now + 4 * 3600, active=now,
            state="receiving", nonce=secrets.token_hex(8), name_sealed=sealing.seal(key, b"a.jpg"),
            holder=module.holder_tag(secrets.token_hex(32), upload_id),
        )  # fmt: skip
        open(upload.data_path, "wb").close()
        store._save(upload)


def creation(module, store, key: bytes, client: str) -> None:
    budget, share = 2**40, 2**40
    if hasattr(module, "Quota"):
        store.create(key, 1000, "a.jpg", quota=module.Quota(budget, client, share), admit=lambda owned: None)
    else:
        store.owned(key)
        assert store.room(1000, budget=budget, client=client, share=share) is None
        store.create(key, 1000, "a.jpg", client=client)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--uploads", type=int, default=20_000)
    parser.add_argument("--old")
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    module = load(args.old)
    with tempfile.TemporaryDirectory() as root:
        store = module.Store(root)
        fill(module, store, args.uploads)
        store.collect()  # (the ledger is made here, as at start-up)
        key, client, times = sealing.new_key(), secrets.token_hex(32), []
        for _ in range(args.runs):
            began = time.perf_counter()
            creation(module, store, key, client)
            times.append(time.perf_counter() - began)
    print(
        f"{'old' if args.old else 'ledger'}: {args.uploads} uploads waiting, one creation (check and reserve): "
        f"median {statistics.median(times) * 1000:.1f} ms, max {max(times) * 1000:.1f} ms over {args.runs}"
    )


if __name__ == "__main__":
    main()
