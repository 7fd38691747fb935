"""The ``comfykit`` command (also ``python -m comfykit_sync``)."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

DEMO_WORKFLOW = Path(__file__).parent / "testing" / "workflows" / "text_to_image.json"


def demo(args: argparse.Namespace) -> int:
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

    params = {"prompt": args.prompt, "steps": 8, "width": 768}
    with FakeComfyUI(duration=args.duration) as server, ComfyKit(server.url) as kit:
        print(f"fake ComfyUI server listening on {server.url}")
        print(f"workflow: {DEMO_WORKFLOW}")
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
        output = Path(args.output)
        for artifact in result.artifacts:
            if artifact.url:
                saved = kit.download(artifact, output / (artifact.filename or "output"))
                print(f"saved {artifact.kind} to {saved}")
    return 0


def plugins(args: argparse.Namespace) -> int:
    """List installed plugins: distribution, version, hooks, backends; failures with their error."""
    import json

    import attrs

    from .plugins import describe_plugins, make_plugin_manager

    infos = describe_plugins(make_plugin_manager())
    if args.json:
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
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="comfykit", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    demo_cmd = commands.add_parser("demo", help="run an example workflow on a bundled fake server")
    demo_cmd.add_argument(
        "--output", default="comfykit-demo-output", help="directory for the downloaded outputs"
    )
    demo_cmd.add_argument("--prompt", default="a watercolor fox in the snow")
    demo_cmd.add_argument(
        "--duration", type=float, default=0.5, help="seconds the fake server takes per job"
    )
    demo_cmd.set_defaults(func=demo)
    plugins_cmd = commands.add_parser("plugins", help="list installed plugins")
    plugins_cmd.add_argument("--json", action="store_true", help="print JSON")
    plugins_cmd.set_defaults(func=plugins)
    args = parser.parse_args(argv)
    return int(args.func(args))


if __name__ == "__main__":
    sys.exit(main())
