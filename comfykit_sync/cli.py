"""The ``comfykit`` command (also ``python -m comfykit_sync``).

Built on click, imported only by the console script and ``python -m``, never by
``import comfykit_sync``. Exit codes: 0 success, 1 failed job or lint problems, 2 caller mistakes
(bad options, unreadable workflow, bad parameters), 130 Ctrl-C (a running job is cancelled on the
server first).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import Any, TextIO

import click

from .errors import ComfyKitError, JobInterrupted
from .events import (
    Completed,
    Event,
    Failed,
    NodeCached,
    NodeExecuted,
    NodeExecuting,
    Progress,
    Queued,
    Started,
)
from .models import ExecuteResult

#: The demo runs a workflow as ComfyUI's editor saves it with plain "Save" (UI format).
DEMO_WORKFLOW = Path(__file__).parent / "testing" / "workflows" / "ui" / "text_to_image.json"
#: exit code after Ctrl-C (128 + SIGINT), as shells report it
INTERRUPTED = 130


@click.group(help="Run and inspect ComfyUI workflows.")
def cli() -> None:
    """The command group."""


# -- demo / plugins -----------------------------------------------------------------------------
@cli.command(help="Run an example workflow on a bundled fake server.")
@click.option(
    "--output", default="comfykit-demo-output", help="Directory for the downloaded outputs."
)
@click.option("--prompt", default="a watercolor fox in the snow")
@click.option("--duration", type=float, default=0.5, help="Seconds the fake server takes per job.")
def demo(output: str, prompt: str, duration: float) -> int:
    """Start the bundled fake ComfyUI, run an example workflow, print and save the result."""
    try:
        from .testing import FakeComfyUI
    except ImportError as exc:  # aiohttp comes with the "testing" extra
        print(
            f"the demo needs the testing extra: pip install 'comfykit-sync[testing]' ({exc})",
            file=sys.stderr,
        )
        return 2
    from . import ComfyKit

    params = {"prompt": prompt, "steps": 8, "width": 768}
    with FakeComfyUI(duration=duration) as server, ComfyKit(server.url) as kit:
        print(f"fake ComfyUI server listening on {server.url}")
        print(f'workflow: {DEMO_WORKFLOW} (as saved with plain "Save", markers in node titles)')
        spec = kit.list_params(DEMO_WORKFLOW)
        for p in spec.params.values():
            flag = "required" if p.required else f"default {p.default!r}"
            print(f"  parameter {p.name:<9} {p.type:<6} {flag}")
        print(f"running with {params} ...")
        result = kit.execute(DEMO_WORKFLOW, params)
        print(f"status:    {result.status}")
        print(f"prompt_id: {result.prompt_id}")
        print(f"duration:  {result.duration:.2f} s")
        print(f"seeds:     {dict(result.seeds)}")
        for var, urls in result.images_by_var.items():
            print(f"images[{var}]: {urls}")
        for var, texts in result.texts_by_var.items():
            print(f"texts[{var}]:  {texts}")
        if result.status != "completed":
            print(f"error: {result.msg}", file=sys.stderr)
            return 1
        for saved in result.save(output, overwrite=True):
            print(f"saved {saved}")
    return 0


@cli.command(help="List installed plugins.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def plugins(as_json: bool) -> int:
    """List installed plugins: distribution, version, hooks, backends, settings; failures."""
    import attrs

    from .plugins import describe_plugins, make_plugin_manager

    infos = describe_plugins(make_plugin_manager())
    if as_json:
        print(json.dumps([attrs.asdict(info) for info in infos], indent=2))
        return 0
    for info in infos:
        origin = "built-in" if info.builtin else f"{info.distribution or '-'} {info.version or ''}"
        print(f"{info.name}  ({origin.strip()})")
        if info.error:
            print(f"    FAILED: {info.error}")
            continue
        print(f"    hooks:    {', '.join(info.hooks) or '-'}")
        if info.backends:
            print(f"    backends: {', '.join(info.backends)}")
        for setting in info.settings:
            env = f" ({setting['env']})" if setting["env"] else ""
            about = f": {setting['help']}" if setting["help"] else ""
            print(f"    setting:  {setting['name']}{env}{about}")
    return 0


@cli.command(help="Show the health of each ComfyUI server (several make a pool).")
@click.option(
    "--server",
    "urls",
    multiple=True,
    metavar="URL",
    help="A ComfyUI server, repeatable (default: $COMFYUI_BASE_URL, comma-separated for several).",
)
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def servers(urls: tuple[str, ...], as_json: bool) -> int:
    """Probe every server now; exit 0 when all are healthy, 1 when one is not."""
    from . import ComfyKit

    try:
        kit = ComfyKit(list(urls) or None)
    except ComfyKitError as exc:
        return _caller_mistake(exc)
    with kit:
        infos = kit.servers()
    if as_json:
        print(json.dumps([info.to_dict() for info in infos], indent=2, default=str))
    else:
        rows = [("server", "health", "version", "queue", "ours", "jobs api", "last error")]
        for info in infos:
            rows.append(
                (
                    info.url,
                    "up" if info.healthy else "DOWN",
                    info.version or "-",
                    _count(info.queue_depth),
                    _count(info.in_flight),
                    {True: "yes", False: "no", None: "-"}[info.jobs_api],
                    (info.last_error or "-")[:80],
                )
            )
        widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
        for row in rows:
            cells = [cell.ljust(width) for cell, width in zip(row[:-1], widths, strict=True)]
            print("  ".join([*cells, row[-1]]))
    return 0 if all(info.healthy for info in infos) else 1


def _count(value: int | None) -> str:
    return "-" if value is None else str(value)


# -- options shared by the commands that load workflows ------------------------------------------
def server_option(fn: Any) -> Any:
    """``--server URL``."""
    return click.option(
        "--server", help="ComfyUI URL (default: $COMFYUI_BASE_URL or the local server)."
    )(fn)


def object_info_options(fn: Any) -> Any:
    """``--object-info FILE`` and ``--refresh-object-info``, for UI-format workflows."""
    fn = click.option(
        "--refresh-object-info",
        is_flag=True,
        help="Fetch the server's node definitions again (after installing custom nodes).",
    )(fn)
    return click.option(
        "--object-info",
        "object_info",
        type=click.Path(exists=True, dir_okay=False, path_type=Path),
        help="Convert UI-format workflows with this saved /object_info JSON (offline).",
    )(fn)


def open_kit(server: str | None, object_info: Path | None, refresh: bool) -> Any:
    """A kit for ``server``; ``object_info`` converts offline, ``refresh`` refetches definitions.

    Raises ``ComfyKitError`` for a bad setting or a failed refresh, ``click.UsageError`` when
    both options are given.
    """
    from . import ComfyKit

    if refresh and object_info is not None:
        raise click.UsageError("--refresh-object-info asks the server; drop --object-info")
    kit = ComfyKit(server, object_info=object_info)
    if refresh:
        try:
            kit.object_info(refresh=True)
        except ComfyKitError:
            kit.close()
            raise
    return kit


# -- run ------------------------------------------------------------------------------------------
def describe_event(event: Event) -> str | None:
    """One line of progress for an event (``None``: nothing worth showing)."""
    if isinstance(event, Queued):
        return "queued" if event.position is None else f"queued (position {event.position})"
    if isinstance(event, Started):
        return "running"
    if isinstance(event, NodeCached):
        return f"cached nodes: {', '.join(event.node_ids)}" if event.node_ids else None
    if isinstance(event, NodeExecuting):
        label = " ".join(x for x in (event.class_type, event.title and repr(event.title)) if x)
        return _node(event.node_id, event.display_node) + (f" {label}" if label else "")
    if isinstance(event, Progress):
        node = f"{_node(event.node_id, event.display_node)}: " if event.node_id else ""
        job = f" ({event.fraction:.0%} of the job)" if event.fraction is not None else ""
        return f"{node}step {event.value}/{event.max}{job}"
    if isinstance(event, NodeExecuted):
        return f"{_node(event.node_id, event.display_node)} done"
    if isinstance(event, Completed):
        return "completed"
    if isinstance(event, Failed):
        return "failed"
    return None


def _node(node_id: str, display_node: str | None) -> str:
    """``node 3``, or ``node 3.0.0.1 (in node 3)`` for a node created by expansion."""
    shown = f" (in node {display_node})" if display_node and display_node != node_id else ""
    return f"node {node_id}{shown}"


class ProgressDisplay:
    """Shows job events: one rewritten line on a terminal, one plain line per event otherwise."""

    def __init__(self, stream: TextIO, *, live: bool) -> None:
        self._stream = stream
        self._live = live
        self._width = shutil.get_terminal_size().columns
        self._open_line = False
        self._lock = threading.Lock()  # events may come from a backend's thread

    def __call__(self, event: Event) -> None:
        text = describe_event(event)
        if text is None:
            return
        with self._lock:
            if self._live:
                self._stream.write("\r" + text[: self._width - 1] + "\x1b[K")
                self._open_line = True
            else:
                self._stream.write(text + "\n")
            self._stream.flush()

    def close(self) -> None:
        """End the live line so that what follows starts on a fresh one."""
        with self._lock:
            if self._open_line:
                self._stream.write("\n")
                self._stream.flush()
                self._open_line = False


def parse_param(text: str) -> tuple[str, Any]:
    """``name=value`` → (name, value); ``name=@path`` → a :class:`Path` to upload."""
    name, sep, value = text.partition("=")
    if not sep or not name.strip():
        raise click.BadParameter(f"expected name=value, got {text!r}", param_hint="-p")
    if value.startswith("@@"):
        return name.strip(), value[1:]
    if value.startswith("@"):
        return name.strip(), Path(os.path.expanduser(value[1:]))
    return name.strip(), value


def _load_params(params_file: Path | None, pairs: Sequence[str]) -> dict[str, Any]:
    params: dict[str, Any] = {}
    if params_file is not None:
        try:
            loaded = json.loads(params_file.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise click.BadParameter(str(exc), param_hint="--params-file") from None
        if not isinstance(loaded, dict):
            raise click.BadParameter("must hold a JSON object", param_hint="--params-file")
        params.update(loaded)
    params.update(parse_param(pair) for pair in pairs)
    return params


def result_json(result: ExecuteResult, saved: Sequence[Path] = ()) -> dict[str, Any]:
    """The result as a JSON-serialisable dict for scripts."""
    return {
        "status": result.status,
        "prompt_id": result.prompt_id,
        "duration": result.duration,
        "backend": result.backend,
        "server": result.server,
        "images_by_var": result.images_by_var,
        "videos_by_var": result.videos_by_var,
        "audios_by_var": result.audios_by_var,
        "texts_by_var": result.texts_by_var,
        "texts": result.texts,
        "seeds": dict(result.seeds),
        "msg": result.msg,
        "error": type(result.error).__name__ if result.error is not None else None,
        "warnings": list(result.warnings),
        "downloaded": [str(path) for path in saved],
    }


def _print_result(result: ExecuteResult) -> None:
    print(f"status:    {result.status}")
    print(f"prompt_id: {result.prompt_id}")
    if result.duration is not None:
        print(f"duration:  {result.duration:.2f} s")
    if result.seeds:
        print(f"seeds:     {dict(result.seeds)}")
    for kind in ("images", "videos", "audios", "texts"):
        for var, values in getattr(result, f"{kind}_by_var").items():
            for value in values:
                print(f"{kind}[{var}]: {value}")
    for warning in result.warnings:
        print(f"warning: {warning}", file=sys.stderr)


@cli.command(help="Run a workflow (file path or URL, API or UI format) and print its outputs.")
@click.argument("workflow")
@click.option(
    "-p",
    "--param",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter; NAME=@PATH uploads a file (@@ for a literal leading @).",
)
@click.option(
    "--params-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON object of parameters (-p overrides it).",
)
@click.option("--backend", help="Backend name, e.g. comfyui-ws for node and step progress.")
@server_option
@object_info_options
@click.option("--timeout", type=float, help="Seconds the whole job may take.")
@click.option(
    "--download",
    type=click.Path(file_okay=False, path_type=Path),
    help="Save the output files in this directory (safe names, never outside it).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def run(
    workflow: str,
    pairs: tuple[str, ...],
    params_file: Path | None,
    backend: str | None,
    server: str | None,
    object_info: Path | None,
    refresh_object_info: bool,
    timeout: float | None,
    download: Path | None,
    as_json: bool,
) -> int:
    """Run ``workflow``; exit 0 when completed, 1 when failed, 2 for a caller mistake."""
    params = _load_params(params_file, pairs)
    progress = ProgressDisplay(sys.stderr, live=sys.stderr.isatty())
    try:
        kit = open_kit(server, object_info, refresh_object_info)
    except ComfyKitError as exc:
        return _caller_mistake(exc)
    with kit:
        try:
            job = kit.submit(workflow, params, backend=backend, timeout=timeout, on_event=progress)
        except ComfyKitError as exc:  # raised before anything was sent
            return _caller_mistake(exc)
        except KeyboardInterrupt as exc:  # once sent, the job was cancelled on the server first
            progress.close()
            return _interrupted(None, exc)
        try:
            result = job.result()
        except KeyboardInterrupt as exc:  # job.result() cancelled the job on the server first
            progress.close()
            return _interrupted(job.prompt_id, exc)
        finally:
            progress.close()
        saved: list[Path] = []
        download_error: Exception | None = None
        if download is not None and result.ok:
            try:  # names made safe as by result.save(): nothing lands outside ``download``
                saved = result.save(download)
            except (ComfyKitError, OSError) as exc:
                download_error = exc
    if as_json:
        print(json.dumps(result_json(result, saved), indent=2, default=str))
    else:
        _print_result(result)
        for path in saved:
            print(f"saved: {path}")
    if not result.ok:
        print(f"error: {result.msg}", file=sys.stderr)
        return 1
    if download_error is not None:
        print(f"error: download failed: {download_error}", file=sys.stderr)
        return 1
    return 0


def _interrupted(prompt_id: str | None, exc: KeyboardInterrupt) -> int:
    """Say what became of the job after Ctrl-C, with its prompt id; exit code 130."""
    if isinstance(exc, JobInterrupted):
        message = str(exc)
    elif prompt_id is None:  # before the prompt was sent, or a second Ctrl-C stopped the cancel
        message = "no job was queued, or its cancel was interrupted too"
    else:  # a second Ctrl-C stopped the cancel itself
        message = f"prompt {prompt_id}: the cancel could not be confirmed"
    print(f"interrupted: {message}", file=sys.stderr)
    return INTERRUPTED


def _caller_mistake(exc: ComfyKitError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


# -- inspect / lint ---------------------------------------------------------------------------
@cli.command(help="Show a workflow's parameters and outputs (--json: a JSON Schema).")
@click.argument("workflow")
@click.option("--json", "as_json", is_flag=True, help="Print the parameters as a JSON Schema.")
@server_option
@object_info_options
def inspect(
    workflow: str,
    as_json: bool,
    server: str | None,
    object_info: Path | None,
    refresh_object_info: bool,
) -> int:
    """Print the parameter table and outputs, or the JSON Schema of the parameters."""
    try:
        with open_kit(server, object_info, refresh_object_info) as kit:
            info = kit.inspect(workflow)
    except ComfyKitError as exc:
        return _caller_mistake(exc)
    if as_json:
        print(json.dumps(info.json_schema(), indent=2, default=str))
        return 0
    rows = [("PARAMETER", "TYPE", "REQUIRED", "DEFAULT", "UPLOAD", "NODES")]
    for p in info.params:
        nodes = ", ".join(f"{t.node_id}.{t.field} ({t.class_type})" for t in p.targets)
        default = "-" if p.required or p.default is None else json.dumps(p.default, default=str)
        required, upload = ("yes" if flag else "no" for flag in (p.required, p.upload))
        rows.append((p.name, p.type, required, default, upload, nodes))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        cells = (cell.ljust(w) for cell, w in zip(row[:-1], widths, strict=True))
        print("  ".join(cells), "", row[-1])
    print()
    width = max(len("OUTPUT"), *(len(var) for var in info.outputs))
    print(f"{'OUTPUT'.ljust(width)}  NODES")
    for var, node_ids in info.outputs.items():
        print(f"{var.ljust(width)}  {', '.join(node_ids)}")
    for warning in info.warnings:
        print(f"warning: {warning}", file=sys.stderr)
    return 0


@cli.command(help="Report every DSL problem of a workflow; exit 1 when there is any.")
@click.argument("workflow")
@server_option
@object_info_options
def lint(
    workflow: str, server: str | None, object_info: Path | None, refresh_object_info: bool
) -> int:
    """Print each problem with its node id and a count; exit 0 only for a clean workflow."""
    from .lint import lint_graph

    try:
        with open_kit(server, object_info, refresh_object_info) as kit:
            graph = kit.load_workflow(workflow).graph
    except ComfyKitError as exc:
        return _caller_mistake(exc)
    problems = lint_graph(graph)
    for problem in problems:
        where = "workflow" if problem.node_id is None else f"node {problem.node_id}"
        print(f"{where}: {problem.message}")
    print(f"{len(problems)} problem(s)" if problems else "no problems found")
    return 1 if problems else 0


# -- convert --------------------------------------------------------------------------------------
@cli.command(help="Write a workflow (e.g. saved with plain Save) in the API format.")
@click.argument("workflow")
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the API-format JSON to this file (default: standard output).",
)
@server_option
@object_info_options
def convert(
    workflow: str,
    output: Path | None,
    server: str | None,
    object_info: Path | None,
    refresh_object_info: bool,
) -> int:
    """Convert with the server's node definitions (or ``--object-info``); exit 2 if it cannot."""
    try:
        with open_kit(server, object_info, refresh_object_info) as kit:
            graph = kit.load_workflow(workflow).graph
    except ComfyKitError as exc:
        return _caller_mistake(exc)
    text = json.dumps(graph, indent=2, ensure_ascii=False) + "\n"
    if output is None:
        sys.stdout.write(text)
        return 0
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        print(f"error: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
        return 2
    print(f"wrote {output} ({len(graph)} nodes)", file=sys.stderr)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return the exit code."""
    try:
        code = cli.main(
            args=None if argv is None else list(argv), prog_name="comfykit", standalone_mode=False
        )
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except click.Abort:  # Ctrl-C outside a job
        print("aborted", file=sys.stderr)
        return INTERRUPTED
    return int(code or 0)


if __name__ == "__main__":
    sys.exit(main())
