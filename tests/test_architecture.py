"""The architecture as a test: what may import what (design.md, "Rules of the house").

- Streamlit is imported only by app.py, pages/ and the one module of page glue (page_glue.py);
  never under dashboard/ or data_sources/.
- dashboard/ never imports pages/ or the glue.
- pages/ holds only the pages app.py lists, and a page computes nothing itself: it reads
  widgets, calls its page model (dashboard.pagemodels), caches it through the glue and draws.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GLUE = "page_glue"
# What a page may import from dashboard/: its page model, figure builders, the filter
# declaration, and the vocabularies and policy answers it draws with.
PAGE_IMPORTS_ALLOWED = ("dashboard.pagemodels", "dashboard.views", "dashboard.analytics.filters",
                        "dashboard.analytics.coverage", "dashboard.schema",
                        "dashboard.security.policy", "dashboard.briefing.archive",
                        "dashboard.briefing.charts", "dashboard.briefing.compose")
# Analytics, frames and the store: what a page that computes figures itself would import.
PAGE_IMPORTS_FORBIDDEN = ("dashboard.analytics", "dashboard.frames", "dashboard.store",
                          "dashboard.security.audience", "sqlalchemy")


def imported_modules(path: Path) -> set[str]:
    """Every module ``path`` imports, at any depth of the file (lazy imports included)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def python_files(folder: str) -> list[Path]:
    return sorted((ROOT / folder).rglob("*.py"))


def test_streamlit_stays_out_of_the_package_and_connectors() -> None:
    offenders = [f"{path.relative_to(ROOT)}: {module}"
                 for folder in ("dashboard", "data_sources") for path in python_files(folder)
                 for module in imported_modules(path)
                 if module == "streamlit" or module.startswith(("streamlit.", "streamlit_"))]
    assert offenders == []


def test_dashboard_never_imports_pages_or_the_glue() -> None:
    offenders = [f"{path.relative_to(ROOT)}: {module}"
                 for path in python_files("dashboard") for module in imported_modules(path)
                 if module == "pages" or module.startswith("pages.") or module == GLUE]
    assert offenders == []


def test_pages_holds_only_the_pages_app_lists() -> None:
    listed = set(re.findall(r'"pages/(\w+\.py)"', (ROOT / "app.py").read_text()))
    present = {path.name for path in (ROOT / "pages").glob("*.py")}
    assert present == listed


def test_pages_compute_nothing_themselves() -> None:
    offenders = []
    for path in python_files("pages"):
        for module in imported_modules(path):
            if module.startswith(PAGE_IMPORTS_ALLOWED):
                continue
            if module.startswith(PAGE_IMPORTS_FORBIDDEN) or module.startswith("pages"):
                offenders.append(f"{path.relative_to(ROOT)}: {module}")
    assert offenders == []


def test_every_page_calls_a_page_model_through_the_glue() -> None:
    for path in python_files("pages"):
        modules = imported_modules(path)
        assert GLUE in modules, path
        assert any(module.startswith("dashboard.pagemodels") for module in modules), path


def test_the_rules_catch_a_breach(tmp_path: Path) -> None:
    # The checks themselves, on a page that computes its own figures.
    page = tmp_path / "bad.py"
    page.write_text("import streamlit as st\nfrom dashboard.analytics.picture import kpis\n"
                    "def f():\n    from dashboard.frames import load_picture_frames\n")
    found = imported_modules(page)
    assert {"streamlit", "dashboard.analytics.picture", "dashboard.frames"} <= found
    assert any(m.startswith(PAGE_IMPORTS_FORBIDDEN) and not m.startswith(PAGE_IMPORTS_ALLOWED)
               for m in found)
