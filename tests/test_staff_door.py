"""One door for staff accounts (issue 23, item 1): what decides who may sign in, and how, changes in app/staff.py
alone, and a staff session starts in app/sessions.py alone, handed the password typed in that request (issue 24
derives the staff key there). Read from the source with ast, as test_layers.py does, so that a breach names its
file and line; then every path that starts a session is walked to see that it hands the password on."""

import ast
import re
from pathlib import Path

import pytest
from sqlalchemy import select

from app import sessions, staff
from app.extensions import db
from app.models import User
from tests.authenticator import SoftKey
from tests.helpers import PASSWORD, login, make_user
from tests.test_factors import code_at, enrol_page
from tests.test_keys import add_key, key_step

APP = Path(__file__).resolve().parent.parent / "app"
DOOR = "app/staff.py"
SESSIONS = "app/sessions.py"
# An account's fields that only app/staff.py sets. Per-sign-in bookkeeping (totp_last_step, totp_pending,
# key_challenge*, a key's sign_count and last_used_at) may change where it is used.
GUARDED = {
    "password_hash",
    "role",
    "active",
    "session_version",
    "must_change_password",
    "totp_secret",
    "totp_required",
    "key_required",
    "public_key",
    "locked_key",
}
# Rows only app/staff.py makes or deletes; the columns of each that others may still update.
ROWS = {"User": None, "RecoveryCode": set(), "SecurityKey": {"sign_count", "last_used_at"}}
# Writes that look like an account's but are not: (file, field or "session.delete") -> what they write. A
# session.delete(...) cannot tell its row's model from the source: each module that deletes rows so says why.
NOT_AN_ACCOUNT = {
    ("app/uploads/resumable.py", "active"): "an upload's last active minute, in its own state file",
    ("app/submissions/retention.py", "session.delete"): "a submission past its retention, with its files",
    ("app/crypto/epochs.py", "session.delete"): "a fresh install's wrap of an epoch, once a moderator holds it",
    ("app/crypto/unlocking.py", "session.delete"): "a sign-in's pending unlock, taken once",
    ("app/submissions/rekeys.py", "session.delete"): "an old receipt's waiting key, once its wrap is made",
}
RAW_SQL = re.compile(
    r"\b(update\s+users|(insert\s+into|delete\s+from)\s+(users|recovery_codes|security_keys))\b", re.IGNORECASE
)


def called(node: ast.AST) -> str | None:
    """The name a call calls: `f(...)` and `x.f(...)` give "f"."""
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    return func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else None


def statement_table(values: ast.Call) -> str | None:
    """The model of `update(M)` or `insert(M)` that a `.values(...)` call's chain starts from."""
    node = values.func.value if isinstance(values.func, ast.Attribute) else None
    while node is not None:
        if called(node) in {"update", "insert"} and node.args and isinstance(node.args[0], ast.Name):
            return node.args[0].id
        node = node.func.value if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) else None
        node = node.value if isinstance(node, ast.Attribute) else node
    return None


def targets(node: ast.AST):
    """Every attribute an assignment writes, through tuples and chains (`a.x = b.y = …`, `a.x, b.y = …`)."""
    if isinstance(node, ast.Assign):
        pending = list(node.targets)
    elif isinstance(node, ast.AugAssign | ast.AnnAssign):
        pending = [node.target]
    else:
        return
    while pending:
        target = pending.pop()
        if isinstance(target, ast.Tuple | ast.List):
            pending.extend(target.elts)
        elif isinstance(target, ast.Starred):
            pending.append(target.value)
        elif isinstance(target, ast.Attribute):
            yield target.attr


def value_keys(call: ast.Call):
    """The columns a `.values(...)` call sets: keywords, a literal dict's keys (names or `Model.column`), and "**"
    for anything it cannot read."""
    for keyword in call.keywords:
        yield keyword.arg or "**"
    for argument in call.args:
        if not isinstance(argument, ast.Dict):
            yield "**"
            continue
        for key in argument.keys:
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                yield key.value
            else:
                yield key.attr if isinstance(key, ast.Attribute) else "**"


def is_session(node: ast.AST) -> bool:
    """`db.session`, `session` or `self.session`: what deletes a loaded row (a Flask session has no delete())."""
    return (isinstance(node, ast.Attribute) and node.attr == "session") or (
        isinstance(node, ast.Name) and node.id == "session"
    )


def account_changes(tree: ast.AST):
    """(line, what) for every change to an account, or to its factors' rows, that the tree makes."""
    for node in ast.walk(tree):
        for field in targets(node):
            if field in GUARDED:
                yield node.lineno, f"assigns .{field}"
        name = called(node)
        if name == "setattr" and isinstance(node.func, ast.Name):
            field = node.args[1].value if len(node.args) > 1 and isinstance(node.args[1], ast.Constant) else "?"
            if field in GUARDED or field == "?":
                yield node.lineno, f"setattr {field}"
        elif name in ROWS:
            yield node.lineno, f"makes a {name}"
        elif name in {"delete", "insert"} and node.args and getattr(node.args[0], "id", None) in ROWS:
            yield node.lineno, f"{name}({node.args[0].id})"
        elif name == "values":
            table = statement_table(node)
            allowed = ROWS.get(table) if table in ROWS and ROWS[table] is not None else None
            for key in value_keys(node):
                if key in GUARDED or (table == "User" and key == "**") or (allowed is not None and key not in allowed):
                    yield node.lineno, f"update({table or '?'}).values({key}=…)"
        elif name == "delete" and isinstance(node.func, ast.Attribute) and is_session(node.func.value):
            yield node.lineno, "session.delete"
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and RAW_SQL.search(node.value):
            yield node.lineno, "writes accounts in SQL"


def sources():
    return sorted(p for p in APP.rglob("*.py") if "translations" not in p.parts)


def relative(path: Path) -> str:
    return path.relative_to(APP.parent).as_posix()


def breaches_in(source: str, where: str) -> list[str]:
    found = []
    for line, what in account_changes(ast.parse(source, where)):
        if (where, what.removeprefix("assigns .")) not in NOT_AN_ACCOUNT:
            found.append(f"{where}:{line} {what}")
    return found


def test_accounts_change_in_app_staff_py_alone():
    breaches = []
    for path in sources():
        if relative(path) != DOOR:
            breaches += breaches_in(path.read_text(), relative(path))
    assert breaches == []


def test_the_rule_sees_every_way_of_changing_an_account():
    """The check itself: each way the fields or rows can be written is caught, and bookkeeping is not."""
    writes = {
        "user.password_hash = hash_password(new)": "assigns .password_hash",
        "current_user.session_version += 1": "assigns .session_version",
        "a.totp_secret, a.totp_pending = secret, None": "assigns .totp_secret",
        "a.totp_pending = a.key_required = None": "assigns .key_required",
        "user.role: str = 'admin'": "assigns .role",
        "setattr(user, 'role', 'admin')": "setattr role",
        "setattr(user, field, value)": "setattr ?",
        "db.session.execute(update(User).where(User.id == 1).values(password_hash=h))": "values(password_hash",
        "update(User).values({User.active: False})": "values(active",
        "update(User).values(**changes)": "update(User).values(**",
        "update(RecoveryCode).values(digest=d)": "update(RecoveryCode).values(digest",
        "update(SecurityKey).where(SecurityKey.id == 1).values(public_key=k)": "values(public_key",
        "db.session.add(RecoveryCode(user_id=1, digest=d))": "makes a RecoveryCode",
        "key = SecurityKey(user_id=1)": "makes a SecurityKey",
        "User(username='x', role='admin')": "makes a User",
        "db.session.execute(delete(RecoveryCode).where(RecoveryCode.user_id == 1))": "delete(RecoveryCode)",
        "db.session.execute(insert(SecurityKey))": "insert(SecurityKey)",
        "db.session.delete(key)": "session.delete",
        "db.session.execute(text('UPDATE users SET role = 1'))": "in SQL",
    }
    for code, what in writes.items():
        found = breaches_in(code, "app/elsewhere.py")
        assert found and what in found[0], (code, found)
    bookkeeping = [
        "update(User).where(User.id == 1).values(totp_last_step=step)",
        "update(User).values(key_challenge=None, key_challenge_at=None)",
        "update(SecurityKey).values(sign_count=n, last_used_at=now)",
        "user.totp_pending = pyotp.random_base32()",
        "session.pop('key_step', None)",
    ]
    assert [breaches_in(code, "app/elsewhere.py") for code in bookkeeping] == [[]] * len(bookkeeping)
    # The exceptions hold in their own file only.
    assert breaches_in("current.active = minute", "app/uploads/resumable.py") == []
    assert breaches_in("current.active = minute", "app/elsewhere.py") != []
    assert breaches_in("db.session.delete(submission)", "app/submissions/retention.py") == []
    assert breaches_in("db.session.delete(submission)", "app/elsewhere.py") != []


def test_a_staff_session_starts_and_ends_in_app_sessions_py_alone():
    """login_user and logout_user, which make and end a staff session, are called from app/sessions.py only."""
    breaches = [
        f"{relative(path)}:{node.lineno} calls {called(node)}"
        for path in sources()
        if relative(path) != SESSIONS
        for node in ast.walk(ast.parse(path.read_text()))
        if called(node) in {"login_user", "logout_user"}
    ]
    assert breaches == []


@pytest.fixture
def started(monkeypatch):
    """The (username, password) of every session started, through the real sessions.start."""
    calls = []
    real = sessions.start

    def spy(user, password):
        calls.append((user.username, password))
        return real(user, password)

    monkeypatch.setattr(sessions, "start", spy)
    return calls


def test_signing_in_starts_the_session_with_the_typed_password(app, client, started):
    make_user(app)
    assert login(client).status_code == 303
    assert started == [("olga", PASSWORD)]


def test_changing_the_password_starts_the_session_with_the_new_one(app, client, started):
    make_user(app)
    login(client)
    new = "a brand new passphrase"
    response = client.post("/auth/password", data={"current": PASSWORD, "new": new, "confirm": new})
    assert response.status_code == 303
    assert started == [("olga", PASSWORD), ("olga", new)]


def test_enrolling_an_app_starts_the_session_with_the_typed_password(app, client, started):
    make_user(app)
    login(client)
    _page, secret = enrol_page(client)
    response = client.post("/auth/totp", data={"code": code_at(secret), "password": PASSWORD})
    assert response.status_code == 200
    assert started == [("olga", PASSWORD), ("olga", PASSWORD)]


def test_adding_a_key_starts_the_session_with_the_typed_password(app, client, started):
    make_user(app)
    login(client)
    key = SoftKey()
    assert add_key(client, key).status_code == 303
    assert started == [("olga", PASSWORD), ("olga", PASSWORD)]
    client.post("/auth/logout")
    # The key step of a sign-in comes in a request of its own, after the password's: none was typed in it.
    response, _assertion = key_step(client, key)
    assert response.status_code == 303
    assert started[2:] == [("olga", None)]


def test_an_account_removes_only_its_own_keys(app):
    olga, ivan = make_user(app), make_user(app, "ivan")
    with app.app_context():
        users = {user.id: user for user in db.session.scalars(select(User))}
        key = staff.add_security_key(
            users[ivan], name="ivan's", credential_id=b"c", public_key=b"p", sign_count=0, rp_id="localhost"
        )
        with pytest.raises(staff.StaffError):
            staff.remove_security_key(users[olga], key)
        assert staff.security_keys(users[ivan]) == [key]
        staff.remove_security_key(users[ivan], key)
        assert staff.security_keys(users[ivan]) == []
