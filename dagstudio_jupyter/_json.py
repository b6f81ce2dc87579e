"""Strict JSON reading for what clients send: standard JSON only, depth-bounded."""

from __future__ import annotations

import json
import math
import reprlib
from collections.abc import Mapping
from typing import Any

# Deeper than any real document; it keeps copies, checks and error messages
# of client documents well inside Python's recursion limit.
MAX_DEPTH = 100
# Python refuses to turn integers of more than about 4,300 digits into text,
# so a document holding one could be read but never written back.
_MAX_INT_BITS = 4096
_SCALARS = (str, int, float, bool, type(None))
_REPR = reprlib.Repr()
_REPR.maxstring = _REPR.maxother = 80
_REPR.maxlevel = 3


class JSONInputError(ValueError):
    """Text that is not standard JSON, or nests too deeply to handle."""


def _refuse_constant(name: str) -> Any:
    # NaN and Infinity are Python's extensions; echoed back, they would make
    # answers that browsers and other JSON readers reject.
    raise JSONInputError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    # Python reads 1e999 as infinity, which would come back out as `Infinity`.
    value = float(text)
    if not math.isfinite(value):
        raise JSONInputError(f"number {short_repr(text)} is too large for JSON")
    return value


def loads_strict(text: str | bytes) -> Any:
    """Parse standard JSON; raise `JSONInputError` naming what is wrong."""
    if not isinstance(text, (str, bytes, bytearray)):
        raise JSONInputError(f"JSON input must be text, got {type(text).__name__}")
    try:
        return json.loads(
            text, parse_constant=_refuse_constant, parse_float=_finite_float
        )
    except JSONInputError:
        raise
    except RecursionError:
        raise JSONInputError("JSON nested too deeply") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise JSONInputError(str(exc)) from exc
    except ValueError as exc:
        # The one other refusal of the reader: an integer too long to convert.
        raise JSONInputError("a JSON number has too many digits") from exc


def find_non_json(value: Any) -> str | None:
    """Say where and what in `value` standard JSON cannot hold; None if nothing.

    Refused: nesting deeper than `MAX_DEPTH`, NaN and infinities, integers
    too long to write, strings that are not valid Unicode (lone surrogates),
    object keys that are not strings, and values of other Python types. The
    answer starts with the place, such as `phases[0].id`.
    """
    stack: list[tuple[Any, tuple[str | int, ...]]] = [(value, ())]
    while stack:
        item, where = stack.pop()
        if len(where) >= MAX_DEPTH:
            return (
                f"{_place(where)} is nested too deeply (more than {MAX_DEPTH} levels)"
            )
        if isinstance(item, Mapping):
            for key, child in item.items():
                if not isinstance(key, str) or not _encodable(key):
                    return (
                        f"{_place(where)} has a key that is not a Unicode "
                        f"string: {short_repr(key)}"
                    )
                stack.append((child, (*where, key)))
        elif isinstance(item, list):
            stack.extend((child, (*where, n)) for n, child in enumerate(item))
        elif not isinstance(item, _SCALARS):
            return f"{_place(where)} is a {type(item).__name__}, not a JSON value"
        elif isinstance(item, str) and not _encodable(item):
            return f"{_place(where)} is not valid Unicode text"
        elif isinstance(item, float) and not math.isfinite(item):
            return f"{_place(where)} is {item!r}, which is not valid JSON"
        elif isinstance(item, int) and item.bit_length() > _MAX_INT_BITS:
            return f"{_place(where)} is an integer too large to write as JSON"
    return None


def _place(where: tuple[str | int, ...]) -> str:
    text = "".join(
        f"[{part}]" if isinstance(part, int) else f".{short_repr(part)[1:-1]}"
        for part in where[:8]
    )
    return (text.lstrip(".") + ("..." if len(where) > 8 else "")) or "the document"


def short_repr(value: Any) -> str:
    """A bounded `repr` for error messages, safe on any value."""
    try:
        return _REPR.repr(value)
    except (ValueError, RecursionError):
        # An integer past Python's digit limit, or a repr that recurses.
        return f"<{type(value).__name__}>"


def _encodable(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True
