"""The layers import only downward: core imports nothing of ours, db only core, pure media code
knows nothing of the catalog, the scheduler, Celery or the tasks."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ABOVE_CORE = ("db", "worker", "scheduler", "tests", "bench")


def imports(path: Path) -> set[str]:
    """Every module a file imports (at any depth, lazily or not)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def files(folder: str, *, skip: tuple[str, ...] = ()) -> list[Path]:
    return [p for p in sorted((REPO / folder).rglob("*.py"))
            if not any(str(p.relative_to(REPO)).startswith(s) for s in skip)]


def offenders(folder: str, banned: tuple[str, ...], *, skip: tuple[str, ...] = ()) -> list[str]:
    """`file: module` for each import under `folder` of a module under one of `banned`."""
    bad = []
    for path in files(folder, skip=skip):
        for module in sorted(imports(path)):
            if any(module == b or module.startswith(b + ".") for b in banned):
                bad.append(f"{path.relative_to(REPO)}: {module}")
    return bad


def test_core_imports_nothing_of_ours() -> None:
    assert offenders("core", ABOVE_CORE) == []


def test_db_imports_only_core() -> None:
    assert offenders("db", ABOVE_CORE[1:]) == []


# The task wrappers, the Celery app, stage declarations (pipeline.py, a package's stages.py)
# and each render kind's handler.py are the thin layer over the catalog; everything else under
# worker/ is pure media code.
THIN_NAMES = ("handler.py", "stages.py")


@pytest.mark.parametrize("folder", ["worker/analysis", "worker/layout", "worker/render",
                                    "worker/sources", "worker/frames"])
def test_pure_media_code_knows_no_catalog_scheduler_or_celery(folder: str) -> None:
    thin = tuple(str(p.relative_to(REPO)) for name in THIN_NAMES
                 for p in (REPO / folder).rglob(name))
    banned = ("db", "scheduler", "celery", "worker.tasks", "worker.app", "sqlalchemy")
    assert offenders(folder, banned, skip=thin) == []


def test_render_kind_handlers_do_not_reach_up_into_the_tasks() -> None:
    """A kind's handler gets its context from worker.context; the generic render task calls
    it, never the other way round."""
    handlers = sorted((REPO / "worker" / "render").rglob("handler.py"))
    assert handlers
    bad = [f"{p.relative_to(REPO)}: {m}" for p in handlers for m in sorted(imports(p))
           if m == "worker.tasks" or m.startswith("worker.tasks.")]
    assert bad == []
