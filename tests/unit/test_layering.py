"""DESIGN.md: dependencies point inward. The domain imports no framework, database or outer layer."""

from __future__ import annotations

import ast
from pathlib import Path

import limen

FORBIDDEN = (
    "fastapi",
    "starlette",
    "sqlalchemy",
    "alembic",
    "httpx",
    "uvicorn",
    "limen.store",
    "limen.web",
    "limen.protocols",
    "limen.service",
    "limen.cli",
    "limen.config",
    "limen.crypto",
    "limen.notify",
)


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text("utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.append(node.module)
    return names


def test_domain_imports_nothing_from_outer_layers_or_frameworks() -> None:
    domain = Path(limen.__file__).parent / "domain"
    offenders = [
        f"{path.relative_to(domain)} imports {name}"
        for path in sorted(domain.rglob("*.py"))
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)
    ]
    assert offenders == []


def test_the_layering_check_would_notice_a_violation(tmp_path: Path) -> None:
    sample = tmp_path / "bad.py"
    sample.write_text("from sqlalchemy.orm import Session\nimport limen.web.app\n")
    assert _imports(sample) == ["sqlalchemy.orm", "limen.web.app"]
