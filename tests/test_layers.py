"""The import rule (ARCHITECTURE.md): blueprints import the domain and infrastructure layers, never each other;
the domain layer knows nothing of requests and imports no blueprint. Read from the source with ast, so that a
breach names its file and line."""

import ast
from pathlib import Path

APP = Path(__file__).resolve().parent.parent / "app"
BLUEPRINTS = {"public", "submit", "moderation", "auth", "admin"}
# The domain layer: what a submission, an article, a file or a staff account is and what may happen to it.
DOMAIN = [
    "submissions",
    "uploads",
    "audit.py",
    "staff.py",
    "crypto",
    "articles.py",
    "telegram.py",
    "sanitize.py",
    "receipts.py",
    "erasure.py",
    "search.py",
    "cursors.py",
    "models.py",
    "labels.py",
    "slugs.py",
    "pow.py",
    "passwords.py",
    "redirects.py",
    "demo.py",
]
REQUEST_BOUND = {
    ("flask", "request"),
    ("flask", "session"),
    ("flask", "g"),
    ("flask_login", "current_user"),
    ("flask_htmx", None),
}


def imports(path: Path):
    """(line, module, name) for every import in the file, at any depth."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name, None
        elif isinstance(node, ast.ImportFrom) and node.module:
            for alias in node.names:
                yield node.lineno, node.module, alias.name


def area(path: Path) -> str | None:
    parts = path.relative_to(APP).parts
    return parts[0] if len(parts) > 1 and parts[0] in BLUEPRINTS else None


def imported_area(module: str, name: str | None) -> str | None:
    parts = module.split(".")
    if parts[0] != "app":
        return None
    if len(parts) > 1:
        return parts[1] if parts[1] in BLUEPRINTS else None
    return name if name in BLUEPRINTS else None  # "from app import moderation"


def sources():
    return sorted(p for p in APP.rglob("*.py") if "translations" not in p.parts)


def test_blueprints_never_import_each_other():
    breaches = []
    for path in sources():
        own = area(path)
        if own is None:
            continue
        for line, module, name in imports(path):
            other = imported_area(module, name)
            if other and other != own:
                breaches.append(f"{path.relative_to(APP.parent)}:{line} imports {module}{'.' + name if name else ''}")
    assert breaches == []


def domain_files():
    for entry in DOMAIN:
        target = APP / entry
        yield from sorted(target.rglob("*.py")) if target.is_dir() else [target]


def test_the_domain_layer_knows_nothing_of_requests_or_blueprints():
    breaches = []
    for path in domain_files():
        for line, module, name in imports(path):
            root = module.split(".")[0]
            bound = (root, name) in REQUEST_BOUND or (root, None) in REQUEST_BOUND
            if bound or imported_area(module, name):
                breaches.append(f"{path.relative_to(APP.parent)}:{line} imports {module}{'.' + name if name else ''}")
    assert breaches == []


def test_the_rule_sees_a_breach():
    """The check itself: a blueprint importing another, and a domain module reading the request, are caught."""
    tree = "from app.moderation import routes\nfrom flask import request\n"
    found = [
        (module, name)
        for node in ast.walk(ast.parse(tree))
        if isinstance(node, ast.ImportFrom)
        for module, name in [(node.module, node.names[0].name)]
    ]
    assert imported_area(*found[0]) == "moderation"
    assert ("flask", found[1][1]) in REQUEST_BOUND
    assert all(p.exists() for p in domain_files())


def classes(path: Path) -> set[str]:
    return {node.name for node in ast.parse(path.read_text(), str(path)).body if isinstance(node, ast.ClassDef)}


def test_the_upload_modules_name_their_classes_apart():
    """A file as a form received it (intake), one on its way (resumable) and their refusals are different things:
    no two modules of app/uploads/ call a class by one name, so a reader of `Upload` or `Refused` knows which."""
    seen: dict[str, str] = {}
    twins = []
    for path in sorted((APP / "uploads").glob("*.py")):
        for name in classes(path):
            if name in seen:
                twins.append(f"{name}: {seen[name]} and {path.name}")
            seen.setdefault(name, path.name)
    assert twins == []


def limit_declarations(path: Path):
    """(line, call) for every limiter.limit(...) or limiter.shared_limit(...) in the file."""
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            owner = node.func.value
            if node.func.attr in ("limit", "shared_limit") and isinstance(owner, ast.Name) and owner.id == "limiter":
                yield node.lineno, node.func.attr


def test_every_rate_limit_is_declared_in_app_limits():
    """One file answers "what is limited, per whom, and when is a request spared": app/limits.py. The routes apply
    its decorators; it is infrastructure, so it imports no blueprint."""
    elsewhere = [
        f"{path.relative_to(APP.parent)}:{line} limiter.{call}"
        for path in sources()
        if path != APP / "limits.py"
        for line, call in limit_declarations(path)
    ]
    assert elsewhere == []
    assert len(list(limit_declarations(APP / "limits.py"))) >= 10
    assert [(m, n) for _line, m, n in imports(APP / "limits.py") if imported_area(m, n)] == []


FILE_FLOW = {"check", "rebuild", "receive", "scrub", "open_clean", "keep"}


def test_a_forms_files_go_through_one_domain_flow():
    """The forms, the answer at /status and any other page with files call app/uploads/formfiles.py:take(); no
    blueprint checks, scrubs or keeps a form's files itself."""
    breaches = []
    for path in sources():
        if area(path) is None:
            continue
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FILE_FLOW:
                breaches.append(f"{path.relative_to(APP.parent)}:{node.lineno} calls .{node.func.attr}()")
    assert breaches == []


LONGEST = 300  # lines (STYLE.md: split a module by resource once it passes about 300)
REASON = "Why one module:"


def test_a_long_module_says_why_it_is_one():
    """A module over LONGEST lines is split by resource, or its docstring says why not, in a paragraph beginning
    with REASON."""
    unexplained = []
    for path in sources():
        text = path.read_text()
        lines = text.count("\n")
        if lines > LONGEST and REASON not in (ast.get_docstring(ast.parse(text)) or ""):
            unexplained.append(f"{path.relative_to(APP.parent)}: {lines} lines")
    assert unexplained == []
