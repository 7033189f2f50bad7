"""Safe YAML reading with one-line errors that name the file and line (never a yaml traceback)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from .errors import GigatrainError


def read_yaml(path: Path | str, what: str = "file") -> Any:
    """``yaml.safe_load`` of ``path``; unreadable or malformed input raises GigatrainError."""
    p = Path(path)
    try:
        return yaml.safe_load(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise GigatrainError(f"cannot read {what} {p}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise GigatrainError(f"{what} {p} is not UTF-8 text") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        at = f" at line {mark.line + 1}" if mark is not None else ""
        raise GigatrainError(f"{p.name}: not valid YAML{at} ({getattr(e, 'problem', e)})") from None
