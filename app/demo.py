"""Demo content for a local run: staff accounts, submissions waiting in the queue, an open case with a message to
its sender, published ads, articles.

`flask demo` (and so `make run`) can run again and again. Each run gives the demo moderator a new password, and so
a new key pair and a new queue epoch (app/staff.py): items made in an earlier epoch would be closed to it. So the
demo's items are remade on every run (AT-REST.md, "The demo"): those of the last run are erased the way any
submission is (retention.erase: its thread, notes and files with it) and made again, in the epoch the moderator
holds now. A DemoItem row marks each one, so what someone sent through the forms is never touched. The articles
are written once.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy import and_, delete, or_, select

from app import articles, staff
from app.extensions import db
from app.models import Article, DemoItem, Submission, User, utcnow
from app.submissions import cases, decisions, sealed, threads
from app.submissions.create import create as create_submission
from app.submissions.create import find
from app.submissions.retention import erase
from app.uploads.stores import app_storage

# Written for the demo: plausible, invented, about no real person.
SUBMISSIONS: list[tuple[str, dict[str, Any]]] = [
    (
        "information",
        {
            "telegram": "demo_witness",
            "title": "Parcels refused at the colony",
            "body": "Since last month the colony returns parcels with warm clothes to families without "
            "giving a reason. Three families from our town had the same answer at the window.",
        },
    ),
    (
        "information",
        {
            "telegram": "demo_relative",
            "title": "Released last week, needs documents",
            "body": "My neighbour came home after four years. His passport was not returned and he "
            "does not know where to ask. He agreed that I write to you.",
        },
    ),
    (
        "contact",
        {
            "telegram": "demo_builder",
            "purpose": "job",
            "body": "Our small renovation team in Vilnius can take two people as helpers. Training "
            "on the job, paid weekly, help with the paperwork.",
        },
    ),
    (
        "contact",
        {
            "telegram": "demo_lawyer",
            "purpose": "legal",
            "body": "I am a lawyer in Warsaw and can give two free consultations a week on residence "
            "permits and humanitarian visas, in Russian or Polish.",
        },
    ),
    (
        "ad",
        {
            "telegram": "demo_seeker",
            "title": "Electrician looking for work",
            "category": "job_wanted",
            "city": "Białystok",
            "show_contact": True,
            "body": "Electrician with twelve years of experience, own tools. Looking for a steady job "
            "or private orders. I speak Russian and some Polish.",
        },
    ),
    (
        "ad",
        {
            "telegram": "demo_host",
            "title": "Room for a family for the first month",
            "category": "housing",
            "city": "Vilnius",
            "show_contact": False,
            "body": "A furnished room in a flat near the old town, free for a newly arrived family "
            "for up to a month while they find their feet.",
        },
    ),
]


# Ads shown as already approved: (locale, fields, days since approval).
PUBLISHED_ADS = [
    (
        "ru",
        {
            "telegram": "demo_driver",
            "title": "Ищу работу водителем категории C",
            "category": "job_wanted",
            "city": "Варшава",
            "show_contact": True,
            "body": "Водитель с опытом пятнадцать лет, права категорий B и C. Рассмотрю доставку по городу "
            "или работу на складе. Польский язык учу, объясниться могу.",
        },
        1,
    ),
    (
        "be",
        {
            "telegram": "demo_tutor",
            "title": "Бясплатныя заняткі па англійскай для дзяцей",
            "category": "services",
            "city": "Вільня",
            "show_contact": True,
            "body": "Настаўніца з вопытам праводзіць заняткі для дзяцей 8–12 гадоў па суботах. Для сем'яў "
            "палітвязняў — бясплатна. Пішыце, падбяром час.",
        },
        2,
    ),
    (
        "en",
        {
            "telegram": "demo_giver",
            "title": "Winter clothes and a pram to give away",
            "category": "goods",
            "city": "Białystok",
            "show_contact": False,
            "body": "Warm jackets for a child of 4–6 years, boots size 30, and a pram in good condition. "
            "Free for a family that needs them. Pick-up in the city centre.",
        },
        3,
    ),
    (
        "ru",
        {
            "telegram": "demo_family",
            "title": "Нужна помощь с переездом в субботу",
            "category": "help_needed",
            "city": "Гданьск",
            "show_contact": True,
            "body": "Мама с двумя детьми переезжает на новую квартиру. Нужны двое крепких помощников "
            "и, если получится, машина на два часа.",
        },
        5,
    ),
]

# Articles, one in each language: (locale, title, summary, Markdown).
ARTICLES = [
    (
        "en",
        "The first week after release",
        "Practical steps for the first days at home: documents, health, money and people to talk to.",
        "Coming home after years away is hard, even when it is what you waited for.\n\n"
        "## Documents first\n\n- Check whether your passport was returned, and ask in writing if not.\n"
        "- Keep every paper you were given on release.\n\n## Health\n\nSee a doctor in the first weeks, "
        "even if you feel well. Many people carry problems they did not notice inside.\n\n"
        "## You are not alone\n\nIf you need work, housing or a lawyer, [leave us a contact](/submit/contact) "
        "and we will look for someone who can help.",
    ),
    (
        "ru",
        "Как мы бережём то, что вы присылаете",
        "Что происходит с вашим сообщением и файлами после отправки, и чего мы никогда не храним.",
        "Люди, которые пишут нам, часто рискуют. Поэтому мы устроили сайт так, чтобы знать о вас как можно меньше.\n\n"
        "## Что мы не храним\n\n- IP-адреса и данные браузера.\n- Скрытые данные в фотографиях: место съёмки, "
        "модель телефона, автора.\n\n## Что видят модераторы\n\nТекст, файлы и имя пользователя в Telegram — "
        "только чтобы ответить вам. Опубликовать можно лишь объявление, и только после проверки.\n\n"
        "## Если передумали\n\nС кодом квитанции вы можете в любой момент **удалить** своё обращение "
        "на странице [проверки статуса](/status).",
    ),
    (
        "be",
        "Як падтрымаць сям'ю палітвязня",
        "Некалькі простых спосабаў дапамагчы, нават калі вы далёка.",
        "Сям'я чалавека за кратамі часта застаецца адна з усімі праблемамі.\n\n"
        "## Што можна зрабіць\n\n1. Напісаць ліст — гэта важней, чым здаецца.\n"
        "2. Прапанаваць працу ці жыллё праз [форму кантакту](/submit/contact).\n"
        "3. Падзяліцца абвесткай з тымі, каму яна патрэбная.\n\n"
        "Кожная прапанова трапляе да нашай каманды, і мы звяжамся з вамі ў Telegram.",
    ),
]


@dataclass
class Loaded:
    """What a run did."""

    items: int  # demo submissions made
    erased: int  # demo submissions of an earlier run erased
    articles: int  # articles added (none once they are there)

    def summary(self) -> str:
        erased = f" ({self.erased} of an earlier run erased)" if self.erased else ""
        added = f"{self.articles} articles added" if self.articles else "articles already present"
        return f"Demo content: {self.items} items (re)made{erased}; {added}."


def staff_account(username: str, role: str, password: str) -> User:
    """Create or reset a demo staff account, active (a reset ends its old sessions and gives it a new key pair). An
    account of that name in another role is not the demo's: refused, and nothing changes."""
    user = staff.find(username)
    if user is None:
        return staff.create(username, role, password)
    if user.role != role:
        raise staff.StaffError(
            f"An account named {username!r} exists as {user.role}: it is not the demo's, and the demo leaves it alone."
        )
    staff.set_password(user, password)
    if not user.active:
        staff.set_active(user, True)
    return user


def load(*, moderator_password: str, editor_password: str | None = None) -> Loaded:
    """Create or reset the demo staff; erase the demo items of an earlier run and make them again, in the queue
    epoch the moderator now holds; add the articles once."""
    moderator = staff_account("moderator", "moderator", moderator_password)
    editor = staff_account("editor", "editor", editor_password or moderator_password)
    erased = erase_earlier()
    made = make_items(moderator, moderator_password)
    return Loaded(items=made, erased=erased, articles=add_articles(editor))


def earlier_items() -> list[Submission]:
    """The demo items of earlier runs: those marked as such, and those a run made before items were marked: a demo
    handle with the demo's own text, in clear (items were not sealed then). A form's submission is neither. (A
    sealed item that a run stopped before marking is not recognised: it stays, like a form's.)"""
    marked = Submission.id.in_(select(DemoItem.submission_id))
    texts = [fields for _kind, fields in SUBMISSIONS] + [fields for _locale, fields, _days in PUBLISHED_ADS]
    made_before = [and_(Submission.telegram == f["telegram"], Submission.body == f["body"]) for f in texts]
    return list(db.session.scalars(select(Submission).where(or_(marked, *made_before)).order_by(Submission.id)))


def erase_earlier() -> int:
    """Erase the demo items of earlier runs for good, as a withdrawal or an admin's delete would."""
    storage = app_storage()
    items = earlier_items()
    for submission in items:
        # Its mark goes in erase's commit, with the item.
        db.session.execute(delete(DemoItem).where(DemoItem.submission_id == submission.id))
        erase(submission, storage, "deleted", detail="demo")
    return len(items)


def make(kind: str, fields: dict[str, Any], locale: str) -> Submission:
    """Send one demo item as the form would, and mark it as the demo's."""
    # Its receipt code is given to no one (and not printed), so nobody opens a demo item at /status.
    submission = find(create_submission(kind, fields, locale=locale))
    if submission is None:
        raise RuntimeError("a demo item was not stored")
    db.session.add(DemoItem(submission_id=submission.id))
    db.session.commit()
    return submission


def make_items(moderator: User, moderator_password: str) -> int:
    """The queue, one case taken on and written to, and ads published through the moderator's approval."""
    made = {fields["telegram"]: make(kind, fields, "en") for kind, fields in SUBMISSIONS}
    # The neighbour's documents: taken on, asked about, noted.
    case = made["demo_relative"]
    decisions.approve(case.id, case.version, moderator)
    threads.write(case.id, moderator, "Thank you. Does he have a copy of the release certificate?")
    cases.add_note(case.id, moderator, "Ask the legal team which office issues passports after release.")
    now = utcnow()
    opener = sealed.Opener.for_staff(moderator, staff.open_key(moderator, moderator_password))
    for locale, fields, days_ago in PUBLISHED_ADS:
        ad = make("ad", fields, locale)
        published = decisions.approve(ad.id, ad.version, moderator, opener=opener).submission
        # Approved now; shown as approved some days ago, so that the list of ads looks lived in.
        approved = now - timedelta(days=days_ago)
        published.decided_at = published.published_at = approved
        published.expires_at = approved + timedelta(days=Submission.AD_DAYS)
        db.session.commit()
    return len(SUBMISSIONS) + len(PUBLISHED_ADS)


def add_articles(editor: User) -> int:
    """Write the demo's articles, each once (one with the same title is left as it is). Returns how many."""
    added = 0
    for locale, title, summary, body in ARTICLES:
        if db.session.scalar(select(Article.id).where(Article.title == title).limit(1)) is None:
            articles.save(
                None, title=title, slug="", summary=summary, body=body, locale=locale, publish=True, author=editor
            )
            added += 1
    return added
