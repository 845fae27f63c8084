"""Editors write articles in Markdown, with a live preview of exactly what readers will see."""

from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy import select

from app import articles
from app.admin import bp, needs
from app.admin.forms import ArticleForm
from app.extensions import db
from app.models import Article
from app.sanitize import render_markdown


@bp.get("/articles")
@needs("write")
def article_index():
    """Every article, drafts first."""
    items = db.session.scalars(select(Article).order_by(Article.status, Article.updated_at.desc())).all()
    return render_template("admin/articles.html", articles=items)


@bp.route("/articles/new", methods=["GET", "POST"])
@needs("write")
def article_new():
    return edit_article(None)


@bp.route("/articles/<id:article_id>", methods=["GET", "POST"])
@needs("write")
def article_edit(article_id: int):
    return edit_article(db.get_or_404(Article, article_id))


def edit_article(article: Article | None):
    form = ArticleForm(
        obj=article,
        body=article.body_source if article else None,
        publish=article is not None and article.status == "published",
    )
    if form.validate_on_submit():
        saved = articles.save(
            article,
            title=form.title.data,
            slug=form.slug.data,
            summary=form.summary.data,
            body=form.body.data,
            locale=form.locale.data,
            publish=form.publish.data,
            author=current_user,
        )
        flash(_("Article saved and published.") if saved.status == "published" else _("Draft saved."))
        return redirect(url_for("admin.article_edit", article_id=saved.id), code=303)
    preview = render_markdown(form.body.data or "")
    return render_template(
        "admin/article_edit.html", form=form, article=article, preview=preview
    ), 422 if form.errors else 200


@bp.post("/articles/preview")
@needs("write")
def article_preview():
    """The sanitized HTML of the text being typed (htmx)."""
    form = ArticleForm()
    return render_template("admin/partials/_preview.html", preview=render_markdown(form.body.data or ""))
