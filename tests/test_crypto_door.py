"""One door to libsodium (AT-REST.md: "nothing else calls libsodium"): app/crypto/sodium.py alone imports nacl, and
outside app/crypto/ the app reaches it through the domain modules (staffkeys, epochs, unlocking...), never
app.crypto.sodium itself, so that what is sealed to whom is decided in app/crypto/ only. Read from the source with
ast, as test_layers.py does, so that a breach names its file and line."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
DOOR = "app/crypto/sodium.py"
CRYPTO = "app/crypto/"
# Modules outside app/crypto/ that still import app.crypto.sodium, and why. Each one is a debt: the test fails when
# an entry is no longer needed, so the list only shrinks.
# Modules outside app/crypto/ allowed to import app.crypto.sodium, each with why: none.
SODIUM_USERS: dict[str, str] = {}


def relative(path: Path) -> str:
    return path.relative_to(APP.parent).as_posix()


def sources() -> list[Path]:
    return sorted(p for p in APP.rglob("*.py") if "translations" not in p.parts)


def package_of(where: str) -> list[str]:
    """The package a module's relative imports start from: app/crypto/x.py and app/crypto/__init__.py give
    ["app", "crypto"]."""
    return where.removesuffix(".py").split("/")[:-1]


def imported(source: str, where: str):
    """(line, module) for every module an import may load, at any depth: `import a.b` gives a.b; `from a import b`
    gives a and a.b (b may be a module); relative imports are resolved; `importlib.import_module("a")` and
    `__import__("a")` with a literal name count too."""
    for node in ast.walk(ast.parse(source, where)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = package_of(where)[: len(package_of(where)) - node.level + 1] if node.level else []
            module = ".".join(base + (node.module.split(".") if node.module else []))
            yield node.lineno, module
            for alias in node.names:
                yield node.lineno, f"{module}.{alias.name}"
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
            if name in {"import_module", "__import__"} and isinstance(node.args[0].value, str):
                yield node.lineno, node.args[0].value


def within(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def breaches_in(source: str, where: str) -> list[str]:
    found = []
    for line, module in imported(source, where):
        if within(module, "nacl") and where != DOOR:
            found.append(f"{where}:{line} imports {module}")
        if within(module, "app.crypto.sodium") and not where.startswith(CRYPTO):
            found.append(f"{where}:{line} imports {module}")
    return found


def test_only_app_crypto_sodium_imports_nacl_and_only_app_crypto_imports_it():
    breaches = []
    for path in sources():
        where = relative(path)
        found = breaches_in(path.read_text(), where)
        if where in SODIUM_USERS:
            found = [breach for breach in found if "app.crypto.sodium" not in breach]
        breaches += found
    assert breaches == []


def test_every_allowed_exception_is_still_needed():
    """An entry in SODIUM_USERS whose file no longer imports app.crypto.sodium is removed, not kept."""
    stale = [where for where in SODIUM_USERS if not breaches_in((APP.parent / where).read_text(), where)]
    assert stale == []


def test_the_door_is_where_nacl_is_imported():
    """The rule reads the right file: sodium.py itself imports nacl, and app/crypto/ imports sodium."""
    door = APP.parent / DOOR
    assert any(within(module, "nacl") for _line, module in imported(door.read_text(), DOOR))
    users = [relative(path) for path in (APP / "crypto").glob("*.py") if path.name != "sodium.py"]
    assert any(
        within(module, "app.crypto.sodium")
        for where in users
        for _line, module in imported((APP.parent / where).read_text(), where)
    )


def test_the_rule_sees_every_way_of_importing():
    """The check itself: each spelling of an import of nacl or of app.crypto.sodium is caught where it is not
    allowed, and allowed where it is."""
    nacl = [
        "import nacl",
        "import nacl.bindings",
        "import nacl.public as public",
        "from nacl import secret",
        "from nacl.pwhash import argon2id",
        "import os, nacl.utils",
        "def f():\n    from nacl.bindings import crypto_box_seal\n",
        "importlib.import_module('nacl.public')",
        "__import__('nacl')",
    ]
    for code in nacl:
        assert breaches_in(code, "app/elsewhere.py"), code
        assert breaches_in(code, "app/crypto/epochs.py"), code  # app/crypto/ goes through sodium.py too
        assert breaches_in(code, DOOR) == [], code
    sodium = [
        "from app.crypto import sodium",
        "from app.crypto import epochs, sodium",
        "import app.crypto.sodium",
        "from app.crypto.sodium import seal",
        "from app.crypto.sodium import Refused as Wrong",
        "import importlib\nimportlib.import_module('app.crypto.sodium')",
    ]
    for code in [*sodium, "from .crypto import sodium", "from .crypto.sodium import unseal"]:
        assert breaches_in(code, "app/staff.py"), code
    for code in [*sodium, "from . import sodium", "from .sodium import seal"]:
        assert breaches_in(code, "app/crypto/epochs.py") == [], code
    assert breaches_in("from ..crypto import sodium", "app/admin/routes.py")
    assert breaches_in("from ..crypto.sodium import seal", "app/admin/routes.py")
    fine = [
        "from app.crypto import staffkeys, epochs",
        "import naclx",
        "from app import crypto",
        "from app.crypto.sodium_notes import x",
        "import app.cryptography",
    ]
    assert [breaches_in(code, "app/elsewhere.py") for code in fine] == [[]] * len(fine)
