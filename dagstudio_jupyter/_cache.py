"""Content hashes of phases, and where the results of earlier runs are found.

A phase's cache key is a SHA-256 over what decides its result as far as we
can see it: its own definition (kind, code, params, env, command, working
folder) and, for each upstream phase, that phase's key and a digest of its
result. A phase is skipped as `cached` when a successful run with the same
key is found. What the key cannot see is listed in the README ("Cached
phases"): files and services a phase reads on its own, global variables and
helper functions its code calls, the packages installed, the time.
"""

from __future__ import annotations

import abc
import collections
import functools
import hashlib
import inspect
import json
import marshal
import pickle
import secrets
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .store import DagStore
    from .workflow import Phase

# Bumped when the recipe changes, so keys of older runs stop matching.
KEY_VERSION = "dagstudio-cache/1"
# In a kernel, results of cached phases are kept in memory: at most this many.
MEMORY_ENTRIES = 1024
# How deep functions bound into a callable (closures, defaults) are followed.
MAX_CODE_DEPTH = 3


@dataclass(frozen=True)
class CacheHit:
    """An earlier successful run of a phase with the same key."""

    execution_id: str
    result: Any


class PhaseCache(abc.ABC):
    """Where a runner looks for, and leaves, results of phases by key."""

    @abc.abstractmethod
    async def lookup(self, key: str) -> CacheHit | None:
        """The earlier run with this key, or None."""

    def record(self, key: str, execution_id: str, result: Any) -> None:  # noqa: B027
        """Remember a successful run (a store records it from the event instead)."""

    def trim(self) -> None:  # noqa: B027
        """Called when a run ends: drop what is over the cache's size."""


class MemoryCache(PhaseCache):
    """Results kept in this process, the `entries` most recently used.

    Kernel runs use one per kernel (`KERNEL_CACHE`): results of any type stay
    as they are (held in memory), and go with the kernel. Entries are dropped
    when a run ends (`trim`), not while it runs, so a workflow larger than
    the cache still finds most of its phases (all but the surplus) rather
    than evicting, phase by phase, the entries it is about to look up.
    """

    def __init__(self, entries: int = MEMORY_ENTRIES) -> None:
        self._entries = entries
        self._hits: collections.OrderedDict[str, CacheHit] = collections.OrderedDict()
        self._lock = threading.Lock()

    async def lookup(self, key: str) -> CacheHit | None:
        with self._lock:
            hit = self._hits.get(key)
            if hit is not None:
                self._hits.move_to_end(key)
            return hit

    def record(self, key: str, execution_id: str, result: Any) -> None:
        with self._lock:
            self._hits[key] = CacheHit(execution_id, result)
            self._hits.move_to_end(key)
            # A hard bound, should one run record far more than the cache holds.
            self._trim(4 * self._entries)

    def trim(self) -> None:
        with self._lock:
            self._trim(self._entries)

    def _trim(self, size: int) -> None:
        while len(self._hits) > size:
            self._hits.popitem(last=False)

    def clear(self) -> None:
        """Forget every result: the next runs compute all phases again."""
        with self._lock:
            self._hits.clear()


class StoreCache(PhaseCache):
    """The store's `phase_cache` rows of one owner (server runs).

    The store writes a row when it commits a `completed` event that carries a
    `cache_key`; the runner adds that key only when the result was kept with
    the event (JSON of at most 64 KiB) or the phase has no result.
    """

    def __init__(
        self,
        store: DagStore,
        owner: str | None,
        call: Callable[..., Any],
    ) -> None:
        self._store = store
        self._owner = owner
        self._call = call  # runs a blocking store call off the event loop

    async def lookup(self, key: str) -> CacheHit | None:
        row = await self._call(self._store.cached_phase, self._owner, key)
        if row is None:
            return None
        return CacheHit(row["execution_id"], row["result"])


class ChainCache(PhaseCache):
    """Several caches asked in turn; a successful run is recorded in each.

    A kernel run on a store file asks the kernel's memory first, then the
    file, so a later process (`dagstudio run --store FILE --cache`) finds
    what an earlier one left.
    """

    def __init__(self, *caches: PhaseCache) -> None:
        self._caches = caches

    async def lookup(self, key: str) -> CacheHit | None:
        for cache in self._caches:
            hit = await cache.lookup(key)
            if hit is not None:
                return hit
        return None

    def record(self, key: str, execution_id: str, result: Any) -> None:
        for cache in self._caches:
            cache.record(key, execution_id, result)

    def trim(self) -> None:
        for cache in self._caches:
            cache.trim()


KERNEL_CACHE = MemoryCache()


def phase_key(phase: Phase, upstream: list[tuple[str, str, str | None]]) -> str:
    """The cache key of `phase` given `(id, key, result digest)` of each upstream."""
    recipe = {
        "version": KEY_VERSION,
        "phase": phase_fingerprint(phase),
        "upstream": sorted(upstream),
    }
    text = json.dumps(recipe, sort_keys=True, default=repr)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()


def phase_fingerprint(phase: Phase) -> dict[str, Any]:
    """What of a phase's own definition goes into its key."""
    fingerprint: dict[str, Any] = {
        "id": phase.id,
        "kind": phase.kind,
        "params": _canonical(phase.params),
        "env": dict(sorted(phase.env.items())),
        "command": phase.command,
        "cwd": phase.cwd,
    }
    if phase.kind == "python":
        fingerprint["code"] = code_digest(phase.func) if phase.func else None
        fingerprint["ref"] = phase.ref
        if phase.func is None and phase.ref:
            fingerprint["code"] = _ref_digest(phase.ref)
    elif phase.kind in ("script", "notebook") and phase.path:
        fingerprint["path"] = phase.path
        fingerprint["code"] = _file_digest(phase.path, phase.kind)
    return fingerprint


def result_digest(result: Any) -> str:
    """A digest of a phase's result; a fresh random one when it has none we can make.

    JSON-able results are hashed as canonical JSON, others by pickle. A result
    that cannot be pickled (or left on a Dask cluster) gets a random digest, so
    the phases downstream of it are never taken from the cache.
    """
    try:
        data = json.dumps(result, sort_keys=True, allow_nan=True).encode()
        return "json:" + hashlib.sha256(data).hexdigest()
    except (TypeError, ValueError, RecursionError):
        pass
    try:
        data = pickle.dumps(result, protocol=4)
    except Exception:
        return "unknown:" + secrets.token_hex(16)
    return "pickle:" + hashlib.sha256(data).hexdigest()


def code_digest(func: Callable[..., Any], depth: int = 0) -> str:
    """A digest of a callable's code and of the values bound into it.

    The code is its source text, else its compiled code. Bound values are
    default arguments, closure cells, a `functools.partial`'s arguments, a
    bound method's object and a callable object's attributes; a function
    among them is hashed the same way (a few levels deep). A value that can
    be neither JSON nor pickled makes the digest unique, so the phase runs.
    """
    if depth > MAX_CODE_DEPTH:
        return secrets.token_hex(16)  # too deep to follow: never equal
    if isinstance(func, functools.partial):
        bound = {"args": func.args, "keywords": func.keywords}
        return _digest(code_digest(func.func, depth + 1), _values(bound, depth))
    if inspect.ismethod(func):
        owner = _values(getattr(func.__self__, "__dict__", func.__self__), depth)
        return _digest(code_digest(func.__func__, depth + 1), owner)
    target = inspect.unwrap(func)
    name = f"{getattr(target, '__module__', '')}:{getattr(target, '__qualname__', '')}"
    code = getattr(target, "__code__", None)
    if not isinstance(code, types.CodeType) and not inspect.isbuiltin(target):
        # A callable object: its class's __call__ and its attributes.
        state = _values(getattr(target, "__dict__", {}), depth)
        inner = code_digest(type(target).__call__, depth + 1)
        return _digest(f"{type(target).__qualname__}", inner, state)
    try:
        text = inspect.getsource(target)
    except (OSError, TypeError):
        text = _code_bytes(code).hex() if isinstance(code, types.CodeType) else ""
    bound = {
        "defaults": getattr(target, "__defaults__", None),
        "kwdefaults": getattr(target, "__kwdefaults__", None),
        "closure": [
            _cell_value(cell) for cell in getattr(target, "__closure__", None) or ()
        ],
    }
    return _digest(name, text, _values(bound, depth))


def _cell_value(cell: Any) -> Any:
    try:
        return cell.cell_contents
    except ValueError:  # a cell not filled yet
        return None


def _values(value: Any, depth: int) -> str:
    """A stable text for values bound into a callable."""

    def encode(item: Any) -> Any:
        if callable(item) and not isinstance(item, type):
            if depth >= MAX_CODE_DEPTH:
                return "callable:" + secrets.token_hex(8)
            return "code:" + code_digest(item, depth + 1)
        return "value:" + result_digest(item)

    try:
        return json.dumps(value, sort_keys=True, default=encode)
    except (TypeError, ValueError, RecursionError):
        return "value:" + result_digest(value)


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode("utf-8", "surrogatepass")).hexdigest()


def _code_bytes(code: types.CodeType) -> bytes:
    try:
        return marshal.dumps(code)
    except ValueError:  # a constant marshal cannot write
        return code.co_code + repr(code.co_consts).encode()


def _ref_digest(ref: str) -> str | None:
    from ._kinds import PhaseFailed, resolve_ref

    try:
        return code_digest(resolve_ref(ref))
    except PhaseFailed:
        return None  # the phase will fail when it runs, saying why


def _file_digest(path: str, kind: str) -> str | None:
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    if kind == "notebook":
        # The cells, not the outputs or metadata saved with them.
        try:
            cells = json.loads(data).get("cells", [])
            data = json.dumps(
                [[c.get("cell_type"), _source(c.get("source"))] for c in cells]
            ).encode()
        except (ValueError, AttributeError):
            pass
    return hashlib.sha256(data).hexdigest()


def _source(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


def _canonical(value: Any) -> Any:
    return json.loads(json.dumps(value, sort_keys=True, default=repr))


def force_set(force: Any, phase_ids: list[str]) -> frozenset[str]:
    """The phases `force` names: True for all, else a list of ids (checked)."""
    if force is None or force is False:
        return frozenset()
    if force is True:
        return frozenset(phase_ids)
    if isinstance(force, str) or not isinstance(force, (list, tuple, set, frozenset)):
        raise ValueError(f"force must be true or a list of phase ids, got {force!r}")
    unknown = sorted(str(pid) for pid in set(force) - set(phase_ids))
    if unknown:
        raise ValueError(f"force names unknown phase(s) {unknown}")
    return frozenset(force)


__all__ = [
    "KERNEL_CACHE",
    "CacheHit",
    "ChainCache",
    "MemoryCache",
    "PhaseCache",
    "StoreCache",
    "code_digest",
    "force_set",
    "phase_fingerprint",
    "phase_key",
    "result_digest",
]
