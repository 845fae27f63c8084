"""Demo content for a local run: a moderator and a few submissions waiting in the queue."""

from sqlalchemy import func, select

from app.auth.passwords import hash_password
from app.extensions import db
from app.models import Submission, User
from app.submit import service

# Written for the demo: plausible, invented, about no real person.
SUBMISSIONS = [
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


def load(*, moderator_password: str) -> int:
    """Create or reset the demo moderator; add the demo submissions once. Return how many were added."""
    moderator = db.session.scalar(select(User).where(User.username == "moderator"))
    if moderator is None:
        moderator = User(username="moderator", role="moderator", session_version=1)
        db.session.add(moderator)
    else:
        moderator.session_version += 1  # the old password's sessions end
    moderator.password_hash = hash_password(moderator_password)
    moderator.active = True
    db.session.commit()

    if db.session.scalar(select(func.count()).select_from(Submission)):
        return 0
    for kind, fields in SUBMISSIONS:
        service.create(kind, fields, locale="en", receipt_key=b"demo items have no usable receipt")
    return len(SUBMISSIONS)
