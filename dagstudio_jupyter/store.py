"""Execution store: the `DagStore` interface and its DuckDB implementation."""

from __future__ import annotations

import abc
import collections
import contextlib
import itertools
import json
import logging
import os
import threading
import time
from typing import TYPE_CHECKING, Any

import duckdb

from ._state import EXECUTION_TERMINAL, PHASE_STATUSES, ExecutionState, SeqGapError
from ._store_sql import (
    _INSERT_PHASES,
    _PHASE_COLUMNS,
    _SUMMARY,
    _TEXT_MATCH,
    EVENT_KEYS,
    _columns,
    _decode_cursor,
    _dicts,
    _encode_cursor,
    _failure_text,
    _json_or_none,
    _like_pattern,
    _load,
    _micros,
    _open,
    _transaction,
    _write,
)
from .errors import ConflictError, NotFoundError, StoreError
from .server.metrics import STORE_COMMIT_SECONDS

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from types import TracebackType
    from typing import Self

    Event = dict[str, Any]
    Subscriber = Callable[[list[Event]], None]
    Item = tuple[float, Event, str | None]  # (queued at, event, extra keys as JSON)

log = logging.getLogger(__name__)

# A failed commit is tried again after the first delay, doubled each time up
# to the second: a full disk that gets space back is written to within a second.
RETRY_DELAYS_S = (0.05, 1.0)

# Errors after which DuckDB refuses every further call on the database
# ("database has been invalidated"): the store must open it again.
_FATAL = (duckdb.FatalException, duckdb.InternalException)
# Errors of the disk or of the database as a whole, which may pass; any other
# error of a commit (a bug) drops that group instead of blocking the store.
_TRANSIENT = (duckdb.OperationalError, *_FATAL)


class DagStore(abc.ABC):
    """Where executions and their events live."""

    @abc.abstractmethod
    def create_execution(self, execution: dict[str, Any]) -> None:
        """Store a new execution document and its phases, committed on return."""

    @abc.abstractmethod
    def append_events(self, events: list[Event]) -> None:
        """Queue events to be committed, without waiting for the commit.

        Raises `ValueError` naming the first malformed event; then none of
        `events` is queued. Events are copied, so callers may reuse theirs.
        Events already stored are dropped; one that leaves a gap in `seq` is
        logged as an error and dropped, and the others are kept.
        """

    @abc.abstractmethod
    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event queued before the call is committed.

        Subscribers have been called for them too. Raises `TimeoutError` if
        `timeout` seconds pass first, and `StoreError` saying why when an
        attempt to commit them fails (they stay queued and are tried again).
        """

    @abc.abstractmethod
    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call `callback` with each committed batch; return the unsubscriber.

        Events reach the callback only once committed, in `seq` order per
        execution. It must not modify them and should be quick. An exception
        it raises is logged and does not reach the other callbacks.
        """

    @abc.abstractmethod
    def get_execution(self, execution_id: str) -> dict[str, Any]:
        """Return the execution document, phases in workflow order."""

    @abc.abstractmethod
    def list_executions(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        q: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        """Return a page of execution summaries, newest first, and the next cursor.

        With `q`, only executions whose name, id or owner holds `q`, ignoring
        case; `%`, `_` and `\\` in it match themselves. A summary has no
        workflow but its `name`, and `progress`: the number of phases in each
        status, and their `total`.
        """

    @abc.abstractmethod
    def events_since(
        self, execution_id: str, since: int = 0, limit: int | None = None
    ) -> list[Event]:
        """Return the events with `seq` above `since`, in order."""

    @abc.abstractmethod
    def delete_execution(self, execution_id: str) -> None:
        """Forget a finished execution with its phases and events."""

    @abc.abstractmethod
    def executions_with_status(self, *statuses: str) -> list[str]:
        """Return the ids of the executions in any of `statuses`, oldest first."""

    def cached_phase(self, owner: str | None, cache_key: str) -> dict[str, Any] | None:
        """The last successful run of a phase with this content hash, or None.

        `{"execution_id", "phase_id", "result", "finished_at"}`, from the
        `completed` events that carried `cache_key`; only `owner`'s runs count.
        A store that keeps no such rows answers None: nothing is ever cached.
        """
        return None

    @abc.abstractmethod
    def close(self) -> None:
        """Commit what is queued and release the store; safe to call twice."""

    @property
    def failure(self) -> str | None:
        """Why events cannot be committed right now (a full disk...), or None."""
        return None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class DuckDBStore(DagStore):
    """A `DagStore` in one DuckDB file, written by one group-committing thread.

    Queued events are committed in groups of up to `max_batch`, at most
    `max_delay_s` after the first of them was queued, one transaction a group
    that also brings the execution and phase rows up to date. Readers and
    subscribers see an event only once it is committed.

    When a commit fails for a cause that may pass (a full or read-only disk,
    an I/O error), the group stays queued and is tried again every second or
    less until it succeeds: nothing is lost and no `seq` is skipped. Meanwhile
    `failure` says why (logged once, as an error), `flush` raises
    `StoreError` with that text and writes such as `create_execution` raise
    it too; reads go on. After a fatal error DuckDB refuses the database
    until it is opened again, which the store does by itself. A group that
    fails for any other cause (a bug) is logged with its traceback and
    dropped, so it cannot block the store.

    Known limitations: events wait in memory while commits fail, so a long
    outage under heavy traffic grows the server's memory. The writer is a
    daemon thread, so events still queued when the process exits without
    `close()` are lost (committed ones stay), and `close()` while commits
    fail tries once more, then drops what is queued with an error in the log;
    phases under way then run again at the next start.
    """

    def __init__(
        self,
        path: str | os.PathLike[str] = ":memory:",
        *,
        max_batch: int = 500,
        max_delay_s: float = 0.02,
    ) -> None:
        if max_batch < 1 or max_delay_s < 0:
            raise ValueError("max_batch must be at least 1 and max_delay_s >= 0")
        self._path = os.fspath(path)
        self._max_batch = max_batch
        self._max_delay_s = max_delay_s
        conn = _open(self._path)
        # DuckDB connections are not thread-safe: _wconn is used only under
        # _write_lock, and each read takes a cursor of its own under _lock.
        # Both are None only while the database is being opened again.
        self._conn: duckdb.DuckDBPyConnection | None = conn
        self._wconn: duckdb.DuckDBPyConnection | None = conn.cursor()
        # Set when DuckDB invalidated the database: it must be opened again.
        self._invalid = False
        self._failure: str | None = None  # why commits fail now
        self._failed_attempts = 0
        self._write_lock = threading.Lock()
        self._states: dict[str, ExecutionState] = {}  # unfinished executions
        self._lock = threading.Lock()
        # close() waits on this until no read is under way.
        self._readers = 0
        self._no_readers = threading.Condition(self._lock)
        self._closed = False
        self._subscribers: dict[int, Subscriber] = {}
        self._keys = itertools.count()
        self._cond = threading.Condition()
        self._queue: collections.deque[Item] = collections.deque()
        self._queued = self._done = self._flushers = 0
        self._closing = False
        self._writer = threading.Thread(
            target=self._run_writer, name="dagstudio-store-writer", daemon=True
        )
        self._writer.start()
        log.info("execution store opened at %s", self._path)

    @property
    def path(self) -> str:
        """The database file, or ":memory:"."""
        return self._path

    def create_execution(self, execution: dict[str, Any]) -> None:
        try:
            state = ExecutionState.from_dict(execution)
            name, created_us = state.workflow.get("name"), _micros(state.created_at)
        except (KeyError, TypeError, AttributeError, ValueError) as exc:
            raise ValueError(f"not an execution document: {exc!r}") from exc
        row = [state.id, name, state.owner, state.status, json.dumps(state.workflow)]
        row += [state.created_at, created_us, state.started_at, state.finished_at]
        row += [state.error, state.last_seq]
        row += [None if state.derived_from is None else json.dumps(state.derived_from)]
        phases = [
            {**phase, "execution_id": state.id, "ordinal": ordinal}
            for ordinal, phase in enumerate(state.phases.values())
        ]
        with self._write_lock, self._writing("write an execution to") as conn:
            with _transaction(conn) as cur:
                sql = "SELECT 1 FROM executions WHERE id = ?"
                if cur.execute(sql, [state.id]).fetchone():
                    raise ConflictError(f"execution {state.id!r} already exists")
                cur.execute(f"INSERT INTO executions VALUES ({'?,' * 11}?)", row)
                if phases:
                    cur.execute(_INSERT_PHASES, _columns(phases, _PHASE_COLUMNS))
            if not state.finished:
                self._states[state.id] = state

    def append_events(self, events: list[Event]) -> None:
        now = time.monotonic()
        items = [(now, *_checked(event)) for event in events]
        with self._cond:
            if self._closing:
                raise StoreError(f"store {self._path!r} is closed")
            self._queue.extend(items)
            self._queued += len(items)
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        if threading.current_thread() is self._writer:
            raise StoreError("flush() cannot be called from a store subscriber")
        with self._cond:
            target, failed = self._queued, self._failed_attempts
            self._flushers += 1  # the writer stops waiting for more events
            self._cond.notify_all()
            try:
                # Until done, or until the next attempt to commit fails.
                self._cond.wait_for(
                    lambda: self._done >= target or self._failed_attempts > failed,
                    timeout,
                )
                if self._done < target and self._failure is not None:
                    raise StoreError(
                        f"{self._failure}; the events wait to be committed"
                    )
                if self._done < target:
                    raise TimeoutError(f"store {self._path!r}: flush timed out")
            finally:
                self._flushers -= 1

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        key = next(self._keys)
        with self._lock:
            self._subscribers[key] = callback

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers.pop(key, None)

        return unsubscribe

    def get_execution(self, execution_id: str) -> dict[str, Any]:
        with self._reader() as cur:
            doc = _load(cur, execution_id)
        if doc is None:
            raise NotFoundError(f"execution {execution_id!r} not found")
        return doc

    def list_executions(
        self,
        *,
        status: str | None = None,
        owner: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
        q: str | None = None,
    ) -> tuple[list[dict[str, Any]], str | None]:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        where, params = ["TRUE"], []
        for column, value in (("status", status), ("owner", owner)):
            if value is not None:
                where.append(f"{column} = ?")
                params.append(value)
        if q is not None:
            where.append(_TEXT_MATCH)
            params += [_like_pattern(q)] * _TEXT_MATCH.count("?")
        if cursor is not None:
            where.append("(created_us, id) < (?, ?)")
            params += _decode_cursor(cursor)
        with self._reader() as cur:
            cur.execute(
                f"SELECT {_SUMMARY}, created_us FROM executions WHERE"
                f" {' AND '.join(where)} ORDER BY created_us DESC, id DESC LIMIT ?",
                [*params, limit + 1],
            )
            items = _dicts(cur)
            cur.execute(
                "SELECT execution_id, status, count(*) FROM phases WHERE execution_id"
                " IN (SELECT unnest(?::TEXT[])) GROUP BY ALL",
                [[item["id"] for item in items[:limit]]],
            )
            counts = cur.fetchall()
        next_cursor = None
        if len(items) > limit:
            del items[limit:]
            next_cursor = _encode_cursor(items[-1]["created_us"], items[-1]["id"])
        by_id = {item["id"]: item for item in items}
        for item in items:
            del item["created_us"]
            item["derived_from"] = _json_or_none(item["derived_from"])
            item["progress"] = dict.fromkeys(["total", *sorted(PHASE_STATUSES)], 0)
        for execution_id, phase_status, count in counts:
            progress = by_id[execution_id]["progress"]
            progress["total"] += count
            progress[phase_status] = progress.get(phase_status, 0) + count
        return items, next_cursor

    def events_since(
        self, execution_id: str, since: int = 0, limit: int | None = None
    ) -> list[Event]:
        with self._reader() as cur:
            sql = "SELECT 1 FROM executions WHERE id = ?"
            if not cur.execute(sql, [execution_id]).fetchone():
                raise NotFoundError(f"execution {execution_id!r} not found")
            cur.execute(
                "SELECT * FROM events WHERE execution_id = ? AND seq > ?"
                " ORDER BY seq LIMIT ?",
                [execution_id, since, limit],
            )
            events = _dicts(cur)
        for event in events:
            if event["attempt"] is None:  # the event came without one
                del event["attempt"]
            event.update(json.loads(event.pop("extra") or "{}"))
        return events

    def delete_execution(self, execution_id: str) -> None:
        with (
            self._write_lock,
            self._writing("delete an execution from") as conn,
            _transaction(conn) as cur,
        ):
            sql = "SELECT status FROM executions WHERE id = ?"
            row = cur.execute(sql, [execution_id]).fetchone()
            if row is None:
                raise NotFoundError(f"execution {execution_id!r} not found")
            if row[0] not in EXECUTION_TERMINAL:
                raise ConflictError(
                    f"execution {execution_id!r} is {row[0]}; only a finished"
                    " execution can be deleted"
                )
            for table in ("events", "phases", "phase_cache"):
                sql = f"DELETE FROM {table} WHERE execution_id = ?"
                cur.execute(sql, [execution_id])
            cur.execute("DELETE FROM executions WHERE id = ?", [execution_id])
            self._states.pop(execution_id, None)

    def executions_with_status(self, *statuses: str) -> list[str]:
        with self._reader() as cur:
            rows = cur.execute(
                "SELECT id FROM executions WHERE status IN (SELECT unnest(?::TEXT[]))"
                " ORDER BY created_us, id",
                [list(statuses)],
            ).fetchall()
        return [row[0] for row in rows]

    def cached_phase(self, owner: str | None, cache_key: str) -> dict[str, Any] | None:
        with self._reader() as cur:
            cur.execute(
                "SELECT execution_id, phase_id, result, finished_at FROM phase_cache"
                " WHERE owner = ? AND cache_key = ?",
                [owner or "", cache_key],
            )
            found = _dicts(cur)
        if not found:
            return None
        row = found[0]
        row["result"] = _json_or_none(row["result"])
        return row

    def close(self) -> None:
        if threading.current_thread() is self._writer:
            raise StoreError("close() cannot be called from a store subscriber")
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._writer.join()
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._no_readers.wait_for(lambda: self._readers == 0)
            self._release()
        log.info("execution store closed at %s", self._path)

    @property
    def failure(self) -> str | None:
        return self._failure

    def _release(self) -> None:
        """Close both connections; call under `_lock` with no read under way."""
        for conn in (self._wconn, self._conn):
            if conn is not None:
                # Closing checkpoints, which a full disk or a database DuckDB
                # invalidated refuses; what was committed is in the WAL anyway.
                with contextlib.suppress(duckdb.Error):
                    conn.close()
        self._wconn = self._conn = None

    def _reopen(self) -> None:
        """Open the database again after DuckDB invalidated it (under _write_lock).

        Raises `StoreError` while it still cannot be opened (the disk is full).
        """
        with self._lock:
            self._no_readers.wait_for(lambda: self._readers == 0)
            if self._closed:
                raise StoreError(f"store {self._path!r} is closed")
            self._release()
        conn = _open(self._path)
        with self._lock:
            self._conn, self._wconn = conn, conn.cursor()
            self._invalid = False
        self._states.clear()  # rebuilt from what the file holds
        log.warning("execution store %s opened again after a fatal error", self._path)

    @contextlib.contextmanager
    def _writing(self, action: str) -> Iterator[duckdb.DuckDBPyConnection]:
        """The write connection, DuckDB's errors turned into a `StoreError`.

        Call under `_write_lock`.
        """
        if self._invalid:
            self._reopen()
        conn = self._wconn
        if conn is None:
            raise StoreError(f"store {self._path!r} is closed")
        try:
            yield conn
        except duckdb.Error as exc:
            raise self._failed(action, exc) from exc

    def _failed(self, action: str, exc: duckdb.Error) -> StoreError:
        if isinstance(exc, _FATAL):
            self._invalid = True
        return StoreError(_failure_text(self._path, action, exc))

    @contextlib.contextmanager
    def _reader(self) -> Iterator[duckdb.DuckDBPyConnection]:
        if self._invalid:
            with self._write_lock:
                if self._invalid:
                    self._reopen()
        with self._lock:
            if self._closed or self._conn is None:
                raise StoreError(f"store {self._path!r} is closed")
            cur = self._conn.cursor()
            self._readers += 1
        try:
            # One snapshot per read: a document is never half old, half new.
            cur.execute("BEGIN TRANSACTION")
            yield cur
        except duckdb.Error as exc:
            raise self._failed("read", exc) from exc
        finally:
            with self._lock:
                with contextlib.suppress(duckdb.Error):
                    cur.close()
                self._readers -= 1
                self._no_readers.notify_all()

    def _run_writer(self) -> None:
        delay = RETRY_DELAYS_S[0]
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._queue or self._closing)
                if not self._queue:
                    return
                while len(self._queue) < self._max_batch and not (
                    self._closing or self._flushers or self._failure
                ):
                    wait = self._queue[0][0] + self._max_delay_s - time.monotonic()
                    if wait <= 0 or not self._cond.wait(wait):
                        break
                count = min(len(self._queue), self._max_batch)
                group = [self._queue.popleft() for _ in range(count)]
                closing, retrying = self._closing, self._failure is not None
            try:
                committed = self._commit(group, retrying)
            except Exception as exc:
                if closing or not _transient(exc):
                    log.exception(
                        "dropped %d event(s): commit to %s failed", count, self._path
                    )
                    committed = []
                else:
                    self._hold(group, exc, delay)
                    delay = min(2 * delay, RETRY_DELAYS_S[1])
                    continue
            else:
                delay = RETRY_DELAYS_S[0]
                if retrying:
                    log.warning(
                        "execution store %s commits again (it had failed: %s)",
                        self._path,
                        self._failure,
                    )
            if committed:
                self._notify(committed)
            with self._cond:
                self._failure = None
                self._done += count
                self._cond.notify_all()

    def _hold(self, group: list[Item], exc: Exception, delay: float) -> None:
        """Put a group that failed to commit back in front, and wait `delay`."""
        with self._cond:
            first = self._failure is None
            self._failure = str(exc)
            self._failed_attempts += 1
            self._queue.extendleft(reversed(group))
            self._cond.notify_all()  # flush() answers with the failure
        if first:
            log.error(
                "%s; %d event(s) wait in memory and the commit is tried again"
                " until it succeeds",
                exc,
                len(self._queue),
            )
        log.debug("commit to %s failed", self._path, exc_info=exc)
        with self._cond:
            self._cond.wait_for(lambda: self._closing, delay)

    def _commit(self, group: list[Item], retrying: bool = False) -> list[Event]:
        """Commit one group; return the events subscribers are to be given.

        `retrying`: the group follows failed attempts, one of which may have
        committed before failing (DuckDB can fail a checkpoint after a durable
        commit). Its events found already stored are given to subscribers,
        who never saw them.
        """
        by_execution: dict[str, list[Item]] = {}
        for item in group:
            by_execution.setdefault(item[1]["execution_id"], []).append(item)
        accepted: list[Item] = []
        stored: list[Item] = []
        touched: dict[str, tuple[ExecutionState, set[str]]] = {}
        with self._write_lock:
            try:
                with self._writing("commit events to") as conn:
                    for execution_id, items in by_execution.items():
                        state = self._states.get(execution_id)
                        if state is None:
                            doc = _load(conn, execution_id)
                            if doc is None:
                                log.error(
                                    "dropped %d event(s) of unknown execution %r",
                                    len(items),
                                    execution_id,
                                )
                                continue
                            state = ExecutionState.from_dict(doc)
                            self._states[execution_id] = state
                        count = len(accepted)
                        phases = _fold(state, items, accepted, stored)
                        if len(accepted) > count:
                            touched[execution_id] = (state, phases)
                    if accepted:
                        started = time.perf_counter()
                        with _transaction(conn) as cur:
                            _write(cur, accepted, touched)
                        STORE_COMMIT_SECONDS.observe(time.perf_counter() - started)
            except BaseException:
                # The cached states may hold events that were not committed:
                # they are read again from the file on the next attempt.
                for execution_id in by_execution:
                    self._states.pop(execution_id, None)
                raise
            for execution_id in by_execution:  # keep only unfinished ones
                state = self._states.get(execution_id)
                if state is not None and state.finished:
                    del self._states[execution_id]
        given = [*stored, *accepted] if retrying and stored else accepted
        return [event for _, event, _ in given]

    def _notify(self, events: list[Event]) -> None:
        with self._lock:
            callbacks = list(self._subscribers.values())
        for callback in callbacks:
            try:
                callback(events)
            except Exception:
                log.exception("store subscriber %r failed", callback)


def _transient(exc: BaseException) -> bool:
    """Whether a failed commit may succeed later: worth trying again."""
    if isinstance(exc, StoreError):  # DuckDB's error, in the store's words
        return exc.__cause__ is None or isinstance(exc.__cause__, _TRANSIENT)
    return False


def _checked(event: Event) -> tuple[Event, str | None]:
    # Checked on the caller's thread, so bad input raises there and never
    # makes the writer fail a whole group.
    event = {"phase_id": None, "error": None, **event}
    name = f"event {event.get('seq')!r} of execution {event.get('execution_id')!r}"
    optional: tuple[type, ...] = (str, type(None))
    kinds: tuple[type | tuple[type, ...], ...] = (str, int, str, optional, str, int)
    for key, types in zip(EVENT_KEYS, (*kinds, optional), strict=True):
        value = event.get(key, 0 if key == "attempt" else None)
        if not isinstance(value, types) or isinstance(value, bool):
            raise ValueError(f"{name}: {key!r} is missing or of wrong type")
    if event["seq"] < 1:
        raise ValueError(f"{name}: 'seq' must be at least 1")
    extra = {key: value for key, value in event.items() if key not in EVENT_KEYS}
    try:
        return event, json.dumps(extra) if extra else None
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}: extra keys are not JSON: {exc}") from exc


def _fold(
    state: ExecutionState,
    items: list[Item],
    accepted: list[Item],
    stored: list[Item],
) -> set[str]:
    """Apply one execution's events to its state; return the phases changed.

    New events go to `accepted`, those already stored to `stored`.
    """
    items.sort(key=lambda item: item[1]["seq"])
    phases: set[str] = set()
    skipped: list[int] = []
    for item in items:
        event = item[1]
        try:
            if not state.apply(event):
                stored.append(item)  # a duplicate
                continue
        except SeqGapError:
            skipped.append(event["seq"])
            continue
        accepted.append(item)
        if event["phase_id"] is not None:
            phases.add(event["phase_id"])
    if skipped:
        log.error(
            "execution %r: dropped %d event(s) after a gap in seq: %s; expected %d",
            state.id,
            len(skipped),
            skipped[:10],
            state.last_seq + 1,
        )
    return phases
