"""The lessons cannot rot: quoted code must equal the library, runnable snippets must run.

Conventions (documented for authors in lessons/README.md):

* ``<!-- quote: minifm/functional/layernorm.py::layernorm_backward -->`` on the line just before a
  fenced ``python`` block: the block must equal the source of that function, class, method
  (``Class.method``) or module-level assignment, read from the real file with ``ast``.
* A block fenced as ``python run`` is executed; all of a lesson's run blocks share one fresh
  namespace, in the order they appear.
* A block fenced as ``text output`` shows what the run block before it prints, and must match.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path

import matplotlib.pyplot as plt
import pytest

ROOT = Path(__file__).resolve().parents[1]
LESSONS = sorted((ROOT / "lessons").glob("[0-9][0-9]_*.md"))

QUOTE = re.compile(r"^<!--\s*quote:\s*(?P<path>[^:\s]+)::(?P<symbol>[\w.]+)\s*-->\s*$")
FENCE = re.compile(r"^(?P<fence>`{3,})(?P<info>.*)$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a lesson."""

    info: tuple[str, ...]       # the words after the opening fence, e.g. ("python", "run")
    text: str                   # the block's content, without the fences
    line: int                   # 1-based line of the first content line
    quote: tuple[str, str] | None  # (path, symbol) from a quote comment just above the fence


def parse_blocks(markdown: str) -> list[Block]:
    """Every fenced block of a markdown text, with its info words and any quote marker."""
    lines = markdown.splitlines()
    blocks, i = [], 0
    while i < len(lines):
        opening = FENCE.match(lines[i])
        if not opening:
            i += 1
            continue
        fence, info = opening["fence"], tuple(opening["info"].split())
        marker = QUOTE.match(lines[i - 1].strip()) if i > 0 else None
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            j += 1
        if j == len(lines):
            raise ValueError(f"line {i + 1}: code fence {fence} is never closed")
        blocks.append(Block(info, "\n".join(lines[i + 1:j]), i + 2,
                            (marker["path"], marker["symbol"]) if marker else None))
        i = j + 1
    return blocks


def _named(body: list[ast.stmt], name: str) -> ast.stmt | None:
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            if node.name == name:
                return node
        elif isinstance(node, ast.Assign):
            if any(isinstance(t, ast.Name) and t.id == name for t in node.targets):
                return node
        elif isinstance(node, ast.AnnAssign):
            if isinstance(node.target, ast.Name) and node.target.id == name:
                return node
    return None


def symbol_source(path: Path, symbol: str) -> str:
    """The exact source of ``symbol`` (``f``, ``Class``, ``Class.method`` or ``NAME``) in a file.

    Decorators are included; a method is dedented to column 0.
    """
    source = path.read_text()
    node: ast.AST = ast.parse(source)
    for part in symbol.split("."):
        found = _named(getattr(node, "body", []), part)
        if found is None:
            raise LookupError(f"{path.relative_to(ROOT)} has no {symbol!r} "
                              f"(could not find {part!r})")
        node = found
    decorators = getattr(node, "decorator_list", [])
    first = min([node.lineno] + [d.lineno for d in decorators])
    lines = source.splitlines()[first - 1:node.end_lineno]
    return textwrap.dedent("\n".join(lines))


def check_quotes(lesson: Path) -> list[str]:
    """Problems with the lesson's quoted blocks (an empty list when all match the library)."""
    problems = []
    for block in parse_blocks(lesson.read_text()):
        if block.quote is None:
            continue
        path, symbol = block.quote
        where = f"{lesson.name}:{block.line} quotes {path}::{symbol}"
        if not (ROOT / path).is_file():
            problems.append(f"{where}, but {path} does not exist")
            continue
        try:
            expected = symbol_source(ROOT / path, symbol)
        except LookupError as e:
            problems.append(f"{where}, but {e}")
            continue
        if block.text.rstrip() != expected.rstrip():
            problems.append(f"{where}, but the library now reads:\n{expected}")
    return problems


def run_lesson(lesson: Path) -> None:
    """Execute the lesson's ``python run`` blocks in one fresh namespace; compare shown output."""
    namespace: dict = {"__name__": "__lesson__"}
    printed: str | None = None
    for block in parse_blocks(lesson.read_text()):
        if block.info[:2] == ("python", "run"):
            code = compile("\n" * (block.line - 1) + block.text, str(lesson), "exec")
            buffer = io.StringIO()
            with contextlib.redirect_stdout(buffer):
                exec(code, namespace)
            printed = buffer.getvalue()
        elif block.info[:2] == ("text", "output"):
            assert printed is not None, (
                f"{lesson.name}:{block.line}: an output block must follow a python run block")
            shown = [line.rstrip() for line in block.text.strip("\n").splitlines()]
            actual = [line.rstrip() for line in printed.strip("\n").splitlines()]
            assert actual == shown, (f"{lesson.name}:{block.line}: the lesson shows\n"
                                     + "\n".join(shown) + "\nbut the code now prints\n"
                                     + "\n".join(actual))
            printed = None
    plt.close("all")


def test_there_are_lessons():
    assert len(LESSONS) >= 8


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_quotes_match_the_library(lesson: Path):
    problems = check_quotes(lesson)
    assert not problems, "\n\n".join(problems)


@pytest.mark.parametrize("lesson", LESSONS, ids=[p.stem for p in LESSONS])
def test_lesson_snippets_run_and_print_what_the_lesson_shows(lesson: Path, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)      # snippets that save a file do it here, not in the repo
    run_lesson(lesson)


def test_every_lesson_is_listed_in_the_reading_order():
    readme = (ROOT / "lessons" / "README.md").read_text()
    missing = [p.name for p in LESSONS if f"({p.name})" not in readme]
    assert not missing, f"lessons/README.md does not link to {missing}"


# ---- the mechanism itself must be able to fail ------------------------------------------------

def _lesson(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "99_probe.md"
    path.write_text(textwrap.dedent(text))
    return path


def test_a_drifted_quote_is_reported(tmp_path):
    real = symbol_source(ROOT / "minifm/gradcheck.py", "rel_error")
    drifted = real.replace("max(1e-8", "max(1e-9")
    assert drifted != real
    lesson = _lesson(tmp_path, "<!-- quote: minifm/gradcheck.py::rel_error -->\n"
                               f"```python\n{drifted}\n```\n")
    problems = check_quotes(lesson)
    assert len(problems) == 1 and "library now reads" in problems[0]
    faithful = _lesson(tmp_path, "<!-- quote: minifm/gradcheck.py::rel_error -->\n"
                                 f"```python\n{real}\n```\n")
    assert check_quotes(faithful) == []


def test_a_quote_of_a_missing_symbol_or_file_is_reported(tmp_path):
    lesson = _lesson(tmp_path, """\
        <!-- quote: minifm/gradcheck.py::no_such_function -->
        ```python
        pass
        ```
        <!-- quote: minifm/no_such_file.py::f -->
        ```python
        pass
        ```
        """)
    problems = check_quotes(lesson)
    assert len(problems) == 2
    assert "no 'no_such_function'" in problems[0] and "does not exist" in problems[1]


def test_methods_and_decorated_classes_are_quoted_whole():
    method = symbol_source(ROOT / "minifm/nn/module.py", "Module.zero_grad")
    assert method.startswith("def zero_grad(self) -> None:")
    assert method.endswith("p.grad[...] = 0")
    cls = symbol_source(ROOT / "minifm/gradcheck.py", "Discrepancy")
    assert cls.startswith("@dataclass(frozen=True)\nclass Discrepancy:")


def test_wrong_shown_output_fails(tmp_path):
    lesson = _lesson(tmp_path, """\
        ```python run
        print(6 * 7)
        ```
        ```text output
        41
        ```
        """)
    with pytest.raises(AssertionError, match=r"the code now prints\s+42"):
        run_lesson(lesson)


def test_run_blocks_share_a_namespace_and_errors_point_at_the_lesson_line(tmp_path):
    lesson = _lesson(tmp_path, """\
        ```python run
        x = 1
        ```
        Some prose.
        ```python run
        assert x == 2
        ```
        """)
    with pytest.raises(AssertionError) as info:
        run_lesson(lesson)
    assert info.traceback[-1].lineno + 1 == 6      # pytest's lineno is 0-based
