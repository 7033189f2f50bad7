"""The README's Python API example runs as written (a doctest of its ``python`` blocks)."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"


def _section(text: str, heading: str) -> str:
    start = text.index(f"\n## {heading}\n")
    end = text.find("\n## ", start + 1)
    return text[start : end if end != -1 else len(text)]


def test_readme_python_api_example_runs() -> None:
    section = _section(README.read_text(encoding="utf-8"), "Python API")
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.DOTALL)
    assert blocks, "the Python API section has no python example"
    parser = doctest.DocTestParser()
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    for i, block in enumerate(blocks):
        test = parser.get_doctest(block, {}, f"README Python API block {i}", str(README), 0)
        assert test.examples, f"block {i} has no >>> examples"
        runner.run(test)
    result = runner.summarize(verbose=False)
    assert result.failed == 0, f"{result.failed} README example(s) failed (see output above)"


def test_readme_example_config_is_shipped() -> None:
    text = README.read_text(encoding="utf-8")
    for path in re.findall(r"src/gigatrain/examples/[\w.-]+", text):
        assert (README.parent / path).exists(), path
