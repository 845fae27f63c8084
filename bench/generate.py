"""Fill a database with N submissions for benchmarks: mixed kinds and statuses, realistic text in three
languages, approved ads live for readers, and a few articles.

    .venv/bin/python bench/generate.py --count 100000          # into $PRYSTAN_DATABASE_URL (or the default)
    .venv/bin/python bench/generate.py --count 100000 --clear  # rows as stored before sealing (issue 25)

Rows are sealed as create() seals them (each with its key pair, sealed to the current queue period, which the
"bench" admin holds: password bench-password-123), and live ads get their public copy as approval writes it.
They go in with bulk inserts in one transaction per 5,000: 100k sealed rows take about a minute on SQLite.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import sys
from datetime import timedelta

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from sqlalchemy import insert

from app import articles, create_app, staff
from app.crypto import epochs, items, sodium
from app.extensions import db
from app.models import PublicAd, Submission, User, utcnow
from app.submissions import sealed

PASSWORD = "bench-password-123"

WORDS = {
    "en": (  # noqa: SIM905  (words read better as a sentence)
        "family parcel release colony lawyer letter visit work room flat help job driver electrician "
        "teacher children winter clothes documents passport town station weekly free small quiet near "
        "month after before court sentence mother father brother sister neighbour friend"
    ).split(),
    "ru": (  # noqa: SIM905  (words read better as a sentence)
        "семья посылка освобождение колония адвокат письмо свидание работа комната квартира помощь "
        "водитель электрик учитель дети зима одежда документы паспорт город вокзал бесплатно тихий "
        "рядом месяц после суд приговор мама отец брат сестра сосед друг"
    ).split(),
    "be": (  # noqa: SIM905  (words read better as a sentence)
        "сям'я пасылка вызваленне калонія адвакат ліст спатканне праца пакой кватэра дапамога "
        "кіроўца электрык настаўнік дзеці зіма вопратка дакументы пашпарт горад вакзал бясплатна "
        "ціхі побач месяц пасля суд прысуд маці бацька брат сястра сусед сябар"
    ).split(),
}
CITIES = ["Vilnius", "Warsaw", "Białystok", "Gdańsk", "Варшава", "Вільня", "Kraków", "Riga", None]
KINDS = [("information", 4), ("contact", 3), ("ad", 5)]
STATUSES = [("pending", 6), ("approved", 3), ("rejected", 1)]


def sentence(rng: random.Random, locale: str, words: int) -> str:
    text = " ".join(rng.choice(WORDS[locale]) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def rows(n: int, rng: random.Random, moderator_id: int):
    now = utcnow()
    kinds = [k for k, w in KINDS for _ in range(w)]
    statuses = [s for s, w in STATUSES for _ in range(w)]
    for i in range(n):
        locale = rng.choice(("en", "ru", "be"))
        kind, status = rng.choice(kinds), rng.choice(statuses)
        created = now - timedelta(minutes=n - i)
        row = {
            "kind": kind,
            "status": status,
            "telegram": f"user_{i:07d}",
            "locale": locale,
            "body": " ".join(sentence(rng, locale, rng.randint(6, 18)) for _ in range(rng.randint(1, 5))),
            "title": sentence(rng, locale, rng.randint(2, 6))[:-1] if kind != "contact" else None,
            "purpose": rng.choice(Submission.PURPOSES) if kind == "contact" else None,
            "category": rng.choice(Submission.CATEGORIES) if kind == "ad" else None,
            "city": rng.choice(CITIES) if kind == "ad" else None,
            "show_contact": kind == "ad" and rng.random() < 0.6,
            "created_at": created,
            "receipt_digest": secrets.token_hex(32),
            "version": 1,
            "decided_at": None,
            "decided_by_id": None,
            "published_at": None,
            "expires_at": None,
            "reject_reason": None,
        }
        if status != "pending":
            row |= {"decided_at": created + timedelta(minutes=1), "decided_by_id": moderator_id}
        if status == "rejected":
            row["reject_reason"] = "spam"
        if status == "approved" and kind == "ad":
            published = created + timedelta(minutes=1)
            # Most approved ads are live; some expired a while ago.
            days = Submission.AD_DAYS if rng.random() < 0.8 else -1
            row |= {"published_at": published, "expires_at": max(published, now) + timedelta(days=days)}
        yield row


def seal(row: dict, epoch_id: int, epoch_public: bytes) -> dict:
    """The row as create() stores it: its words sealed to a key pair of its own, sealed to the queue period."""
    words = sealed.Texts(**{name: row.pop(name) for name in sealed.FIELDS})
    keys = items.new_item(epoch_public, sodium.random_bytes())
    return row | {
        "epoch_id": epoch_id,
        "public_key": keys.public,
        "key_for_queue": keys.for_queue,
        "key_for_receipt": keys.for_receipt,
        "sealed": items.seal(keys.public, words.to_json()),
    }


def store(batch: list[dict], clear: bool, epoch) -> None:
    copies = []
    for row in batch:
        if row["published_at"] is not None and row["expires_at"] > utcnow():
            shown = row["telegram"] if row["show_contact"] else None
            copies.append({"title": row["title"] or "", "body": row["body"], "city": row["city"], "telegram": shown})
    live = [row["published_at"] is not None and row["expires_at"] > utcnow() for row in batch]
    if not clear:
        batch = [seal(row, epoch.id, epoch.public_key) for row in batch]
    ids = db.session.scalars(insert(Submission).returning(Submission.id, sort_by_parameter_order=True), batch).all()
    shown_ids = [row_id for row_id, is_live in zip(ids, live, strict=True) if is_live]
    if copies:
        db.session.execute(insert(PublicAd), [c | {"submission_id": i} for c, i in zip(copies, shown_ids, strict=True)])
    db.session.commit()


def fill(count: int, seed: int = 7, clear: bool = False) -> User:
    """Add ``count`` submissions (in an app context); return the bench admin."""
    rng = random.Random(seed)
    moderator = staff.find("bench") or staff.create("bench", "admin", PASSWORD)
    db.session.commit()
    epoch = epochs.current()
    batch = []
    for row in rows(count, rng, moderator.id):
        batch.append(row)
        if len(batch) == 5000:
            store(batch, clear, epoch)
            batch = []
    if batch:
        store(batch, clear, epoch)
    return moderator


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--clear", action="store_true", help="rows as stored before sealing")
    args = parser.parse_args()
    app = create_app({"DEBUG": True} if not os.environ.get("PRYSTAN_SECRET_KEY") else None)
    rng = random.Random(args.seed)
    with app.app_context():
        moderator = fill(args.count, args.seed, args.clear)
        for i in range(5):
            locale = ("en", "ru", "be")[i % 3]
            articles.save(
                None,
                title=sentence(rng, locale, 4)[:-1],
                slug="",
                locale=locale,
                publish=True,
                summary=sentence(rng, locale, 12),
                author=moderator,
                body="\n\n".join(sentence(rng, locale, 30) for _ in range(6)),
            )
        if db.engine.dialect.name == "postgresql":
            # What autovacuum does soon after a bulk load. Without statistics the planner takes the 60k
            # pending rows for a few hundred and picks slow plans (2.3 s instead of 4 ms for a search); without
            # the visibility map, counting the queue reads the whole table instead of only its index.
            db.session.commit()
            with db.engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
                connection.execute(db.text("VACUUM ANALYZE"))
        total = db.session.scalar(db.select(db.func.count()).select_from(Submission))
    print(f"{args.count} submissions added; {total} in the database.")


if __name__ == "__main__":
    main()
