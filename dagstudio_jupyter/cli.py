"""The `dagstudio` command: run workflows here or on a Jupyter server; watch them."""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TextIO

from ._client_rerun import describe_source
from ._state import PHASE_TERMINAL
from .client import ServerError
from .errors import DagStudioError, InvalidWorkflowError, NotFoundError

if TYPE_CHECKING:
    from .client import Client
    from .kernel import Run
    from .workflow import Workflow

PROG = "dagstudio"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_INTERRUPTED = 0, 1, 2, 130
TOKEN_HELP = (
    "The token is read from the environment: the variable --token-env names, else "
    "DAGSTUDIO_TOKEN, else JUPYTER_TOKEN, else the info file of a running server "
    "at that URL. There is no --token option on purpose: a value on the command "
    "line lands in the shell history and in the process list, where other users "
    "can read it."
)
OUTPUT_LINES = 5
ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class UsageError(DagStudioError):
    """Bad input on the command line or in a workflow file (exit status 2)."""


def main(argv: Sequence[str] | None = None) -> int:
    """Run the `dagstudio` command; return its exit status."""
    parser = build_parser()
    args, extras = parser.parse_known_args(argv)
    if extras:
        # Name unknown options without their values: a mistyped option may
        # be carrying a secret.
        names = [extra.split("=", 1)[0] for extra in extras if extra.startswith("-")]
        parser.error(
            "unrecognized arguments: "
            + (" ".join(names) or f"{len(extras)} extra value(s)")
        )
    try:
        return int(args.handler(args))
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        # The reader went away (`dagstudio ls | head`): stop without a traceback
        # from the interpreter's last flush of stdout.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILED
    except (UsageError, InvalidWorkflowError) as exc:
        return _fail(exc, EXIT_USAGE)
    except ServerError as exc:
        # The server's 400 and 413 are about what we sent: the user's input.
        return _fail(exc, EXIT_USAGE if exc.status in (400, 413) else EXIT_FAILED)
    except DagStudioError as exc:
        return _fail(exc, EXIT_FAILED)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of `dagstudio` and its subcommands."""
    parser = _Parser(
        prog=PROG,
        allow_abbrev=False,
        description="Run DAG Studio workflows here or on a Jupyter server, and "
        "follow them.",
        epilog="Exit status: 0 completed, 1 failed or cancelled (or a server "
        "error), 2 bad input, 130 interrupted.",
    )
    commands = parser.add_subparsers(
        dest="command", required=True, metavar="COMMAND", parser_class=_Parser
    )

    run = commands.add_parser(
        "run",
        allow_abbrev=False,
        parents=[_caching_parser(local=True)],
        help="run a workflow file in this process",
        description="Run a workflow JSON file in this process and show each state "
        "change on stderr. Ctrl-C cancels the run. Python phases' refs import from "
        "the current directory too.",
    )
    run.add_argument("file", metavar="FILE", help="workflow JSON document")
    run.add_argument(
        "--max-parallel",
        type=_positive,
        default=4,
        metavar="N",
        help="phases run at once (default 4)",
    )
    run.add_argument(
        "--store",
        metavar="PATH",
        help="DuckDB file to keep the execution in (default: memory only)",
    )
    run.add_argument(
        "--plain",
        action="store_true",
        help="one line per state change even on a terminal",
    )
    run.set_defaults(handler=cmd_run)

    server = _Parser(add_help=False, allow_abbrev=False)
    group = server.add_argument_group("server", TOKEN_HELP)
    group.add_argument(
        "--token", nargs="?", action=_RefuseToken, help=argparse.SUPPRESS
    )
    group.add_argument(
        "--url",
        metavar="URL",
        help="Jupyter server URL with its base URL, e.g. http://127.0.0.1:8888/ "
        "(default: $DAGSTUDIO_SERVER_URL, else the only running Jupyter server)",
    )
    group.add_argument(
        "--token-env",
        metavar="VAR",
        help="name of the environment variable that holds the token",
    )
    group.add_argument(
        "--timeout",
        type=float,
        default=30,
        metavar="S",
        help="seconds to wait for each answer (default 30)",
    )

    caching = _caching_parser(local=False)
    submit = commands.add_parser(
        "submit",
        allow_abbrev=False,
        parents=[server, caching],
        help="run a workflow file on the Jupyter server",
        description="Submit a workflow JSON file to the server and print the new "
        "execution id on stdout. With --wait, follow its events on stderr until it "
        "ends; Ctrl-C then stops following and leaves it running on the server.",
    )
    submit.add_argument("file", metavar="FILE", help="workflow JSON document")
    submit.add_argument("--wait", action="store_true", help="follow it until it ends")
    submit.add_argument(
        "--max-parallel",
        type=_positive,
        metavar="N",
        help="phases run at once (default: the server's setting)",
    )
    submit.set_defaults(handler=cmd_submit)
    _add_derived_commands(commands, [server, caching])

    ls = commands.add_parser(
        "ls",
        allow_abbrev=False,
        parents=[server],
        help="list executions on the server, newest first",
    )
    ls.add_argument(
        "--status",
        choices=sorted(_statuses()),
        metavar="S",
        help="only this status: " + ", ".join(sorted(_statuses())),
    )
    ls.add_argument(
        "--limit",
        type=_positive,
        default=20,
        metavar="N",
        help="at most N executions (default 20)",
    )
    ls.add_argument("--json", action="store_true", help="print JSON")
    ls.set_defaults(handler=cmd_ls)

    show = commands.add_parser(
        "show",
        allow_abbrev=False,
        parents=[server],
        help="show an execution and its phases",
    )
    show.add_argument("id", metavar="ID", help="execution id, or a unique prefix")
    show.add_argument("--json", action="store_true", help="print JSON")
    show.set_defaults(handler=cmd_show)

    cancel = commands.add_parser(
        "cancel",
        allow_abbrev=False,
        parents=[server],
        help="cancel a running execution on the server",
    )
    cancel.add_argument("id", metavar="ID", help="execution id, or a unique prefix")
    cancel.set_defaults(handler=cmd_cancel)

    convert = commands.add_parser(
        "convert",
        allow_abbrev=False,
        help="print a graph from another tool as a workflow document",
        description="Read a dbt manifest, GitHub Actions workflow, Graphviz DOT "
        "digraph, kedro-viz JSON, CWL workflow or networkx node-link JSON and print "
        "it as a workflow JSON document of noop phases.",
    )
    convert.add_argument("file", metavar="FILE", help="graph file to convert")
    convert.add_argument(
        "--from",
        dest="fmt",
        choices=_graph_formats(),
        metavar="FORMAT",
        help="input format (default: detected): " + ", ".join(_graph_formats()),
    )
    convert.set_defaults(handler=cmd_convert)
    return parser


def cmd_run(args: argparse.Namespace) -> int:
    """`dagstudio run`: run the workflow here, showing progress on stderr."""
    workflow = _load_workflow(args.file)
    force = _force(args)
    from .kernel import Run

    # Like `python -m`, so refs to the user's own modules import.
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        run = Run(
            workflow,
            store=args.store,
            max_parallel=args.max_parallel,
            cache=args.cache,
            force=force,
        )
    except DagStudioError as exc:
        raise UsageError(f"cannot start the run: {exc}") from exc
    display = Progress(sys.stderr, plain=args.plain or not sys.stderr.isatty())
    display.start(workflow.id, len(workflow), run.id)
    try:
        run.start()
        interrupted = _follow_local(run, display)
        display.finish(run.execution())
    finally:
        run.store.close()
    if interrupted:
        return EXIT_INTERRUPTED
    return EXIT_OK if run.status == "completed" else EXIT_FAILED


def _follow_local(run: Run, display: Progress) -> bool:
    """Show the run's events until it ends; return True when Ctrl-C cancelled it."""
    seq, interrupted = 0, False
    while True:
        try:
            done = run.done
            for event in run.events(seq):
                seq = event["seq"]
                display.event(event)
            if done:
                return interrupted
            display.tick()
            time.sleep(0.05)
        except KeyboardInterrupt:
            if interrupted:
                raise
            interrupted = True
            display.note("interrupted: cancelling the run (Ctrl-C again to quit now)")
            run.cancel()


def cmd_submit(args: argparse.Namespace) -> int:
    """`dagstudio submit`: send the workflow to the server; maybe follow it."""
    workflow = _load_workflow(args.file)
    client = _client(args)
    execution = client.submit(workflow, **_run_flags(args))
    return _started(client, execution, wait=args.wait)


def cmd_rerun(args: argparse.Namespace) -> int:
    """`dagstudio rerun`: a new execution running one phase (and downstream) again."""
    client = _client(args)
    source = _resolve_id(client, args.id)
    execution = client.rerun(
        source, args.phase, downstream=args.downstream, **_run_flags(args)
    )
    return _started(client, execution, wait=args.wait)


def cmd_resume(args: argparse.Namespace) -> int:
    """`dagstudio resume`: a new execution running what did not complete."""
    client = _client(args)
    execution = client.resume(_resolve_id(client, args.id), **_run_flags(args))
    return _started(client, execution, wait=args.wait)


def _started(client: Client, execution: dict[str, Any], *, wait: bool) -> int:
    """Print the new execution's id; with `wait`, show its events until it ends."""
    print(execution["id"], flush=True)
    if not wait:
        return EXIT_OK
    workflow = execution.get("workflow") or {}
    display = Progress(sys.stderr, plain=True)
    display.start(
        str(workflow.get("id", "")), len(workflow.get("phases", [])), execution["id"]
    )
    if execution.get("derived_from"):
        display.note(f"derived from {describe_source(execution['derived_from'])}")
    try:
        final = client.wait(execution["id"], since=0, on_event=display.event)
    except KeyboardInterrupt:
        display.note(
            f"stopped following; execution {execution['id']} goes on running on the "
            f"server (`{PROG} cancel {execution['id']}` stops it)"
        )
        return EXIT_INTERRUPTED
    display.finish(final)
    return EXIT_OK if final["status"] == "completed" else EXIT_FAILED


def cmd_ls(args: argparse.Namespace) -> int:
    """`dagstudio ls`: a table of the newest executions."""
    client = _client(args)
    executions = client.list(status=args.status, limit=args.limit)
    if args.json:
        print(json.dumps(executions, indent=2))
        return EXIT_OK
    header = ["ID", "NAME", "STATUS", "PROGRESS", "OWNER", "STARTED"]
    rows = [
        [
            e["id"][:8],
            e.get("name") or "",
            e["status"],
            _progress(e.get("progress") or {}),
            e.get("owner") or "",
            _local_time(e.get("started_at") or e.get("created_at")),
            describe_source(e.get("derived_from")),
        ]
        for e in executions
    ]
    # The column of derived executions' sources only when one is listed.
    if any(row[-1] for row in rows):
        header.append("SOURCE")
    else:
        rows = [row[:-1] for row in rows]
    print(_table(header, rows))
    return EXIT_OK


def cmd_show(args: argparse.Namespace) -> int:
    """`dagstudio show`: one execution with its phases."""
    client = _client(args)
    execution = client.get(_resolve_id(client, args.id))
    if args.json:
        print(json.dumps(execution, indent=2))
        return EXIT_OK
    workflow = execution.get("workflow") or {}
    started, finished = execution.get("started_at"), execution.get("finished_at")
    lines = [
        f"execution  {execution['id']}",
        f"workflow   {workflow.get('name') or workflow.get('id', '')}",
        f"status     {execution['status']}",
    ]
    if execution.get("derived_from"):
        source = describe_source(execution["derived_from"])
        lines.append(f"derived    from {source}")
    lines += [
        f"owner      {execution.get('owner') or ''}",
        f"created    {_local_time(execution.get('created_at'))}",
        f"started    {_local_time(execution.get('started_at'))}",
        f"finished   {_local_time(execution.get('finished_at'))}",
        f"duration   {_duration(started, finished)}",
    ]
    if execution.get("error"):
        lines.append(f"error      {execution['error']}")
    phases = execution.get("phases", [])
    header = ["PHASE", "STATUS", "ATTEMPT", "STARTED", "DURATION", "ERROR"]
    rows = [
        [
            p["id"],
            p["status"],
            str(p.get("attempt", 0)),
            _local_time(p.get("started_at")),
            _duration(p.get("started_at"), p.get("finished_at")),
            p.get("error") or "",
        ]
        for p in phases
    ]
    # Phases that did not run here (cached, or kept from the source) say
    # whose result they show, in a column of their own when there are any.
    if any(p.get("from_execution") for p in phases):
        header.insert(5, "FROM")
        for row, phase in zip(rows, phases, strict=True):
            row.insert(5, str(phase.get("from_execution") or "")[:8])
    print("\n".join(lines))
    print()
    print(_table(header, rows))
    return EXIT_OK


def cmd_cancel(args: argparse.Namespace) -> int:
    """`dagstudio cancel`: cancel a running execution."""
    client = _client(args)
    execution = client.cancel(_resolve_id(client, args.id))
    print(f"{execution['id']} {execution['status']}")
    return EXIT_OK


def cmd_convert(args: argparse.Namespace) -> int:
    """`dagstudio convert`: print another tool's graph as a workflow document."""
    from .importers import load_graph

    if not Path(args.file).is_file():
        raise UsageError(f"cannot read graph file {args.file}: no such file")
    workflow = load_graph(Path(args.file), args.fmt)
    print(workflow.to_json(indent=2))
    return EXIT_OK


class Progress:
    """Shows a run's events: one line per state change, or one updating line.

    On a terminal (`plain=False`) queued and running phases only update a
    status line at the bottom; finished phases still get a line each.
    """

    def __init__(self, stream: TextIO, *, plain: bool) -> None:
        self.stream = stream
        self.plain = plain
        self.t0: datetime | None = None
        self.started = time.monotonic()
        self.states: dict[str, str] = {}
        self.total = 0
        self._status_shown = False
        self._status_text = ""

    def start(self, workflow_id: str, phases: int, execution_id: str) -> None:
        """Say what runs."""
        self.total = phases
        self.note(
            f"workflow {workflow_id!r}: {phases} phases, execution {execution_id}"
        )

    def note(self, text: str) -> None:
        """One line of our own, `dagstudio: text`."""
        self._line(f"{PROG}: {text}")

    def event(self, event: dict[str, Any]) -> None:
        """Show one event, timed from the first one."""
        at = _parse_time(event.get("at"))
        if self.t0 is None:
            self.t0 = at
        elapsed = (at - self.t0).total_seconds() if at and self.t0 else 0.0
        phase_id, status = event.get("phase_id"), event["status"]
        if phase_id is not None:
            self.states[phase_id] = status
        if self.plain or phase_id is None or status in PHASE_TERMINAL:
            self._line(f"[{elapsed:7.2f}s] {_describe(event)}")
            if status == "failed" and event.get("output"):
                tail = str(event["output"]).rstrip().splitlines()[-OUTPUT_LINES:]
                for text in tail:
                    self._line(f"{'':11}| {text}")
        self.tick()

    def tick(self) -> None:
        """Bring the status line up to date (terminal mode only)."""
        if self.plain:
            return
        running = [pid for pid, s in self.states.items() if s == "running"]
        done = sum(s in PHASE_TERMINAL for s in self.states.values())
        elapsed = time.monotonic() - self.started
        status = f"{done}/{self.total} finished, running: {', '.join(running) or '-'}"
        text = f"{status[:100]}  {elapsed:.1f}s"
        if self._status_shown and text == self._status_text:
            return
        self.stream.write(f"\r\x1b[K{text}")
        self.stream.flush()
        self._status_shown, self._status_text = True, text

    def finish(self, execution: dict[str, Any]) -> None:
        """The closing line: status, error, phase counts, time taken."""
        counts: dict[str, int] = {}
        for phase in execution.get("phases", []):
            counts[phase["status"]] = counts.get(phase["status"], 0) + 1
        summary = ", ".join(f"{n} {s}" for s, n in sorted(counts.items()))
        elapsed = time.monotonic() - self.started
        error = f": {execution['error']}" if execution.get("error") else ""
        self.note(f"{execution['status']}{error} ({summary}) in {elapsed:.1f}s")

    def _line(self, text: str) -> None:
        if self._status_shown:
            self.stream.write("\r\x1b[K")
            self._status_shown = False
        self.stream.write(text + "\n")
        self.stream.flush()


def _describe(event: dict[str, Any]) -> str:
    phase_id, status = event.get("phase_id"), event["status"]
    if phase_id is None:
        reason = f" ({event['reason']})" if event.get("reason") else ""
        error = f": {event['error']}" if event.get("error") else ""
        return f"execution {status}{reason}{error}"
    attempt = int(event.get("attempt") or 0)
    text = f"{phase_id}: {status}"
    if event.get("reason") == "retry":
        delay = event.get("retry_in_s")
        when = f" in {delay:g}s" if isinstance(delay, (int, float)) else ""
        return (
            f"{text}, retry{when} after attempt {attempt} failed: {event.get('error')}"
        )
    if status in ("running", "failed") and attempt > 1:
        text += f" (attempt {attempt})"
    if event.get("from_execution"):
        text += f" (result of {str(event['from_execution'])[:8]})"
    if status in ("failed", "skipped") and event.get("error"):
        text += f": {event['error']}"
    return text


def _add_derived_commands(
    commands: Any, parents: list[argparse.ArgumentParser]
) -> None:
    """The `rerun` and `resume` subcommands."""
    rerun = commands.add_parser(
        "rerun",
        allow_abbrev=False,
        parents=parents,
        help="run one phase of a finished execution again, as a new execution",
        description="Start a new execution on the server that runs PHASE of a "
        "finished execution again (with --downstream, and every phase below it). "
        "Upstream results come from that execution; its other completed phases "
        "keep their results. Prints the new execution id on stdout.",
    )
    rerun.add_argument("id", metavar="ID", help="execution id, or a unique prefix")
    rerun.add_argument("phase", metavar="PHASE", help="id of the phase to run")
    rerun.add_argument(
        "--downstream", action="store_true", help="run every phase below it too"
    )
    rerun.set_defaults(handler=cmd_rerun)
    resume = commands.add_parser(
        "resume",
        allow_abbrev=False,
        parents=parents,
        help="run what did not complete in a failed or cancelled execution",
        description="Start a new execution on the server that runs the phases of "
        "a failed or cancelled execution that did not complete; completed phases "
        "keep their results. Prints the new execution id on stdout.",
    )
    resume.add_argument("id", metavar="ID", help="execution id, or a unique prefix")
    resume.set_defaults(handler=cmd_resume)
    for command in (rerun, resume):
        command.add_argument(
            "--wait", action="store_true", help="follow it until it ends"
        )
        command.add_argument(
            "--max-parallel",
            type=_positive,
            metavar="N",
            help="phases run at once (default: the server's setting)",
        )


def _caching_parser(*, local: bool) -> _Parser:
    """`--cache`, `--force PHASE` and `--force-all`, shared by the run commands."""
    parser = _Parser(add_help=False, allow_abbrev=False)
    text = (
        "A phase whose code, parameters and upstream results are unchanged since "
        "its last successful run can be skipped and shown as cached."
    )
    if local:
        text += (
            " Results are found in the --store file (JSON results up to 64 KiB),"
            " so without --store each `run` starts with nothing cached."
        )
    group = parser.add_argument_group("cache", text)
    group.add_argument(
        "--cache",
        action="store_true",
        help="skip unchanged phases as cached (a phase's own cache setting wins)",
    )
    # Not an argparse mutually exclusive group: those lose their argument
    # group when copied into a subcommand through `parents`.
    group.add_argument(
        "--force",
        action="append",
        metavar="PHASE",
        help="run this phase even when it is unchanged (repeatable)",
    )
    group.add_argument(
        "--force-all", action="store_true", help="run every phase, cached or not"
    )
    return parser


def _force(args: argparse.Namespace) -> bool | list[str] | None:
    if args.force_all and args.force:
        raise UsageError("--force PHASE and --force-all do not go together")
    return True if args.force_all else args.force


def _run_flags(args: argparse.Namespace) -> dict[str, Any]:
    """The run options a server command's flags ask for (unset ones as None)."""
    return {
        "max_parallel": args.max_parallel,
        "cache": True if args.cache else None,
        "force": _force(args),
    }


def _load_workflow(path: str) -> Workflow:
    from .workflow import Workflow

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"cannot read workflow file {path}: {exc}") from exc
    try:
        return Workflow.from_json(text)
    except InvalidWorkflowError as exc:
        raise UsageError(f"invalid workflow in {path}: {exc}") from exc


def _client(args: argparse.Namespace) -> Client:
    from .client import Client

    token = None
    if args.token_env:
        if not ENV_NAME.match(args.token_env):
            # Someone may have put the token itself here; do not print it back.
            raise UsageError(
                "--token-env takes the name of an environment variable (such as "
                "DAGSTUDIO_TOKEN), not a token"
            )
        token = os.environ.get(args.token_env)
        if not token:
            raise UsageError(
                f"--token-env names {args.token_env}, but that environment variable "
                "is not set or empty"
            )
    if args.timeout <= 0:
        raise UsageError(f"--timeout must be positive, got {args.timeout:g}")
    try:
        return Client(args.url, token, timeout=args.timeout)
    except DagStudioError as exc:
        # No URL, or one that is not a server URL: the user has to say where.
        raise UsageError(str(exc)) from exc


def _resolve_id(client: Client, given: str) -> str:
    """The full id of the execution `given` names; a unique prefix will do."""
    try:
        return str(client.get(given)["id"])
    except NotFoundError:
        pass
    matches = [
        e["id"] for e in client.iter_executions(limit=5000) if e["id"].startswith(given)
    ]
    if len(matches) > 1:
        raise UsageError(
            f"execution id {given!r} is ambiguous: {', '.join(matches[:5])}"
        )
    if not matches:
        raise NotFoundError(f"execution {given!r} not found")
    return str(matches[0])


class _Parser(argparse.ArgumentParser):
    """Usage errors read `dagstudio: error: ...` whichever subcommand they are in."""

    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{PROG}: error: {message}\n")


class _RefuseToken(argparse.Action):
    """`--token` exists only to explain why there is none; its value is not shown."""

    def __call__(
        self, parser: argparse.ArgumentParser, *args: Any, **kwargs: Any
    ) -> None:
        parser.error(
            "there is no --token option: a token on the command line lands in the "
            "shell history and the process list; put it in DAGSTUDIO_TOKEN or "
            "JUPYTER_TOKEN, or name your own variable with --token-env VAR"
        )


def _fail(exc: BaseException, code: int) -> int:
    print(f"{PROG}: error: {exc}", file=sys.stderr)
    return code


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected a whole number, got {text!r}"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected 1 or more, got {value}")
    return value


def _graph_formats() -> tuple[str, ...]:
    from .importers import FORMATS

    return FORMATS


def _statuses() -> frozenset[str]:
    from ._state import EXECUTION_STATUSES

    return EXECUTION_STATUSES


def _progress(progress: dict[str, Any]) -> str:
    total = int(progress.get("total", 0))
    cached = int(progress.get("cached", 0))
    done = int(progress.get("completed", 0)) + cached
    failed = int(progress.get("failed", 0))
    notes = [f"{n} {what}" for n, what in ((cached, "cached"), (failed, "failed")) if n]
    return f"{done}/{total}" + (f" ({', '.join(notes)})" if notes else "")


def _parse_time(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None


def _local_time(value: Any) -> str:
    moment = _parse_time(value)
    if moment is None:
        return "-"
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone().strftime("%Y-%m-%d %H:%M:%S")


def _duration(start: Any, end: Any) -> str:
    begun, ended = _parse_time(start), _parse_time(end)
    if begun is None:
        return "-"
    if ended is None:
        ended = datetime.now(UTC)
    return f"{(ended - begun).total_seconds():.1f}s"


def _table(header: list[str], rows: list[list[str]]) -> str:
    widths = [
        max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))
    ]
    lines = [
        "  ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in [header, *rows]
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
