"""Staff-written articles: slugs, saving (Markdown → sanitized HTML), publishing, reading."""

from __future__ import annotations

from sqlalchemy import select

from app.audit import record
from app.extensions import db
from app.models import Article, User, utcnow
from app.sanitize import render_markdown
from app.slugs import slugify


def unique_slug(wanted: str, article_id: int | None = None) -> str:
    """``wanted``, or ``wanted-2``, ``wanted-3``… whichever no other article has."""
    base, n, slug = wanted, 1, wanted
    while True:
        taken = db.session.scalar(select(Article.id).where(Article.slug == slug, Article.id != (article_id or 0)))
        if taken is None:
            return slug
        n += 1
        slug = f"{base[: Article.SLUG_MAX - 6]}-{n}"


def save(
    article: Article | None, *, title: str, slug: str, summary: str, body: str, locale: str, publish: bool, author: User
) -> Article:
    """Create or update an article; its HTML is always rendered again from the source."""
    chosen = unique_slug(slugify(slug or title, fallback="article"), article.id if article else None)
    if article is None:
        article = Article(author_id=author.id)
        db.session.add(article)
    article.title = title
    article.slug = chosen
    article.summary = summary or ""
    article.body_source = body or ""
    article.body_html = render_markdown(body)
    article.locale = locale
    if publish and article.status != "published":
        article.status, article.published_at = "published", utcnow()
    elif not publish:
        article.status = "draft"
    db.session.flush()
    record("article_saved", None, actor_id=author.id, detail=f"article {article.id} {article.status}")
    db.session.commit()
    return article


def published(limit: int | None = None, locale: str | None = None) -> list[Article]:
    query = select(Article).where(Article.status == "published")
    if locale:
        query = query.where(Article.locale == locale)
    query = query.order_by(Article.published_at.desc(), Article.id.desc())
    if limit:
        query = query.limit(limit)
    return list(db.session.scalars(query))


def by_slug(slug: str) -> Article | None:
    """A published article; drafts are not found."""
    return db.session.scalar(select(Article).where(Article.slug == slug, Article.status == "published"))
