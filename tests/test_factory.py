"""The factory's own parts: the database settings belong to the app's engine alone, a number in a path always has
bounds, and the factory uses no private part of Flask."""

import ast
import pathlib
import re

import pytest
from sqlalchemy import create_engine
from werkzeug.exceptions import NotFound
from werkzeug.routing import IntegerConverter

from app.extensions import db
from app.models import ID_MAX
from tests.helpers import TEST_DATABASE_URL, make_app

ROOT = pathlib.Path(__file__).resolve().parent.parent

# What the app sets on each connection it opens (app/__init__.py), as each database reports it.
SQLITE = {
    "journal_mode": "wal",
    "busy_timeout": 10000,
    "foreign_keys": 1,
    "secure_delete": 1,
    "synchronous": 1,
    "lower": "дом",  # SQLite's own lower() folds ASCII only
}
POSTGRESQL = {"plan_cache_mode": "force_custom_plan"}


def settings_of(engine) -> dict:
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            found = {name: connection.exec_driver_sql(f"PRAGMA {name}").scalar() for name in SQLITE if name != "lower"}
            return found | {"lower": connection.exec_driver_sql("SELECT lower('ДОМ')").scalar()}
        return {"plan_cache_mode": connection.exec_driver_sql("SHOW plan_cache_mode").scalar()}


def test_each_apps_engine_gets_the_database_settings_and_no_other_engine_does(tmp_path):
    """The hooks listen on the app's own engine, not on every SQLAlchemy Engine in the process: two apps made one
    after the other both get them (new connections after a dispose too), and an engine of another's does not."""
    expected = POSTGRESQL if TEST_DATABASE_URL else SQLITE
    apps = []
    for name in ("first", "second"):
        (tmp_path / name).mkdir()
        apps.append(make_app(tmp_path / name))
    for app in apps:
        with app.app_context():
            assert settings_of(db.engine) == expected
            db.engine.dispose()
            assert settings_of(db.engine) == expected  # a new connection
    outside = create_engine(TEST_DATABASE_URL or f"sqlite:///{tmp_path / 'outside.db'}")
    try:
        found = settings_of(outside)
    finally:
        outside.dispose()
    if TEST_DATABASE_URL:
        assert found["plan_cache_mode"] == "auto"
    else:  # (secure_delete and synchronous may be compiled in as the app's)
        assert all(found[name] != SQLITE[name] for name in ("journal_mode", "busy_timeout", "foreign_keys", "lower"))


def test_flasks_int_stays_flasks_and_row_ids_have_a_converter_of_their_own(app):
    assert app.url_map.converters["int"] is IntegerConverter
    adapter = app.url_map.bind("localhost")
    rules = [rule for rule in app.url_map.iter_rules() if "<id:" in rule.rule]
    assert rules, "no route takes a row id"
    for rule in rules:
        for name in re.findall(r"<id:(\w+)>", rule.rule):
            method = sorted(rule.methods - {"HEAD", "OPTIONS"})[0]

            def path(value: str, rule=rule, name=name) -> str:
                return re.sub(r"<[^>]+>", "1", rule.rule.replace(f"<id:{name}>", value))  # (any other part: 1)

            for accepted in ("1", "007", str(ID_MAX)):
                endpoint, values = adapter.match(path(accepted), method=method)
                assert (endpoint, values[name]) == (rule.endpoint, int(accepted)), rule.rule
            for refused in ("0", str(ID_MAX + 1), "9" * 30, "-1", "+1", "1e9", "1.0", "²", "x"):
                with pytest.raises(NotFound):
                    adapter.match(path(refused), method=method)


def test_every_number_in_a_path_has_an_upper_bound(app):
    """A number past a column's range is a 404, never an overflow in the database: a row id is <id:…>, and any
    other number names its max."""
    unbounded = [
        rule.rule
        for rule in app.url_map.iter_rules()
        for converter, arguments in re.findall(r"<(\w+)(?:\(([^)]*)\))?:\w+>", rule.rule)
        if converter in ("int", "float") and "max=" not in arguments
    ]
    assert unbounded == []


def test_no_module_reaches_into_flasks_private_globals():
    """flask.globals' request_ctx and app_ctx are deprecated in Flask 3.2, which Flask~=3.1 allows."""
    found = []
    for path in sorted((ROOT / "app").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and node.module == "flask.globals":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
            if isinstance(node, ast.Attribute) and node.attr in ("request_ctx", "app_ctx", "_cv_request"):
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    assert found == []
