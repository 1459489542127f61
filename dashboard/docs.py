"""Generated sections of the README, kept in step with the code by a meta-test.

``python -m dashboard.docs`` rewrites them after a schema or config model change.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

from dashboard.analytics.emerging import emerging_markdown
from dashboard.schema import schema_markdown
from dashboard.settings import config_markdown

README = Path(__file__).resolve().parent.parent / "README.md"
SECTIONS: dict[str, Callable[[], str]] = {"schema": schema_markdown, "config": config_markdown,
                                          "emerging": emerging_markdown}


def _pattern(name: str) -> re.Pattern[str]:
    return re.compile(rf"(<!-- {name}:start -->\n)(.*?)(<!-- {name}:end -->)", re.DOTALL)


def stale_sections(text: str) -> list[str]:
    """Names of generated sections missing from, or out of date in, the README text."""
    stale = []
    for name, render in SECTIONS.items():
        match = _pattern(name).search(text)
        if match is None or match.group(2) != render():
            stale.append(name)
    return stale


def _replace_section(text: str, name: str, content: str) -> str:
    """``text`` with the body of generated section ``name`` replaced by ``content``."""
    return _pattern(name).sub(lambda m: m.group(1) + content + m.group(3), text)


def rewrite(text: str) -> str:
    for name, render in SECTIONS.items():
        text = _replace_section(text, name, render())
    return text


if __name__ == "__main__":
    README.write_text(rewrite(README.read_text()))
    print(f"README sections rewritten: {', '.join(SECTIONS)}")
