"""Strict JSON reading for what clients send: standard JSON only, depth-bounded."""

from __future__ import annotations

import json
from typing import Any


class JSONInputError(ValueError):
    """Text that is not standard JSON, or nests too deeply to handle."""


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are Python's extensions; echoed back, they would make
    # answers that browsers and other JSON readers reject.
    raise JSONInputError(f"{name} is not valid JSON")


def loads_strict(text: str | bytes) -> Any:
    """Parse standard JSON; raise `JSONInputError` naming what is wrong."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except RecursionError:
        raise JSONInputError("JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JSONInputError(str(exc)) from exc
