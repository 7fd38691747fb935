"""The import graph: what ``import comfykit_sync`` loads, the lazily exported names, no cycles."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

import comfykit_sync

PACKAGE_DIR = Path(comfykit_sync.__file__).resolve().parent
ROOT = PACKAGE_DIR.parent

#: everything ``import comfykit_sync`` runs of ours: what ``ComfyKit()`` needs, nothing more
EAGER = {
    "comfykit_sync",
    "comfykit_sync.http",
    "comfykit_sync.client",
    "comfykit_sync.config",
    "comfykit_sync.errors",
    "comfykit_sync.settings",
}

#: modules that must wait for first use (``inspect`` is not here: attrs and pluggy import it)
DEFERRED = [
    "requests",  # the HTTP stack, on the first request
    "urllib3",
    "urllib.request",
    "http.client",
    "email",
    "ssl",
    "socket",
    "importlib.metadata",  # entry points, when the plugin manager is built
    "pluggy",
    "tenacity",  # retries and polling, on the first request
    "uuid",  # ids, when a kit is created or a job submitted
    "hashlib",
    "mimetypes",
    "tempfile",
    "concurrent.futures",
    "random",
    "websocket",  # the WebSocket executor
    "aiohttp",  # the fake servers
    "click",  # the CLI
    "celery",
]


def loaded_after(statement: str) -> set[str]:
    """The modules a fresh interpreter has loaded after running ``statement``."""
    code = f"import sys\n{statement}\nloaded = sorted(sys.modules)\n"
    code += "import json\nprint(json.dumps(loaded))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    return set(json.loads(out.stdout))


@pytest.mark.parametrize(
    "statement",
    [
        "import comfykit_sync",
        "from comfykit_sync import ComfyKit, Config, ComfyKitError, ParameterError",
    ],
)
def test_import_loads_only_what_a_kit_needs(statement):
    loaded = loaded_after(statement)
    ours = {name for name in loaded if name.split(".")[0] == "comfykit_sync"}
    assert ours == EAGER
    early = [m for m in DEFERRED if any(n == m or n.startswith(m + ".") for n in loaded)]
    assert early == []


def test_a_lazy_name_loads_its_module_on_first_use():
    loaded = loaded_after("from comfykit_sync import ExecuteResult")
    assert "comfykit_sync.models" in loaded
    assert "comfykit_sync.downloads" not in loaded and "requests" not in loaded


def test_every_public_name_is_importable_and_the_one_its_module_defines():
    namespace: dict[str, object] = {}
    exec("from comfykit_sync import *", namespace)  # noqa: S102 - the star import under test
    assert set(comfykit_sync.__all__) <= set(namespace)
    for name, module in comfykit_sync._LAZY.items():
        assert name in comfykit_sync.__all__
        defined = sys.modules[f"comfykit_sync.{module}"]
        assert getattr(comfykit_sync, name) is getattr(defined, name)
    assert set(comfykit_sync.__all__) <= set(dir(comfykit_sync))


def test_unknown_names_and_submodules_behave_as_usual():
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        comfykit_sync.nope  # noqa: B018
    assert not hasattr(comfykit_sync, "_private_nope")
    from comfykit_sync import hookspecs

    assert hookspecs.__name__ == "comfykit_sync.hookspecs"


def test_submodules_are_attributes_of_the_package_as_before():
    code = "import comfykit_sync\nassert comfykit_sync.events.Queued is comfykit_sync.Queued"
    code += "\nassert comfykit_sync.models.Artifact is comfykit_sync.Artifact"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- import cycles ----------------------------------------------------------------------------
def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE_DIR.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _module_level_imports(body: list[ast.stmt]) -> list[ast.Import | ast.ImportFrom]:
    """Imports run when the module is imported: not in functions, classes or TYPE_CHECKING."""
    found: list[ast.Import | ast.ImportFrom] = []
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            found.append(node)
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                found += _module_level_imports(node.body)
            found += _module_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, *(h.body for h in node.handlers), node.orelse):
                found += _module_level_imports(block)
            found += _module_level_imports(node.finalbody)
        elif isinstance(node, ast.With):
            found += _module_level_imports(node.body)
    return found


def imports_of(name: str) -> set[str]:
    """The package's modules that module ``name`` imports at module level."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in _module_level_imports(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
            continue
        base = node.module or ""
        if node.level:
            anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
            base = ".".join([*anchor, *([base] if base else [])])
        for alias in node.names:  # ``from . import x`` imports module x when there is one
            submodule = f"{base}.{alias.name}"
            targets.add(submodule if submodule in MODULES else base)
    return {t for t in targets if t in MODULES and t != name}


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of ``graph`` (as a path that ends where it starts), or ``None``."""
    state: dict[str, str] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph[node]):
            if state.get(target) == "open":
                return [*stack[stack.index(target) :], target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def test_the_module_graph_has_no_cycles():
    graph = {name: imports_of(name) for name in MODULES}
    assert graph["comfykit_sync.client"] >= {"comfykit_sync.config", "comfykit_sync.http"}
    assert find_cycle(graph) is None, " -> ".join(find_cycle(graph) or [])


def test_the_cycle_finder_finds_cycles():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b", "c"}, "b": {"c"}, "c": set()}) is None


def test_models_hold_data_without_importing_downloads():
    source = MODULES["comfykit_sync.models"].read_text()
    imported = {
        node.module
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.ImportFrom) and node.module
    }
    assert not {"downloads", "http", "client"} & imported


def test_builtin_plugins_import_hookimpl_from_hookspecs():
    plugin_packages = tuple(f"comfykit_sync.{p}." for p in ("loaders", "backends", "parsers"))
    for name, path in MODULES.items():
        if name.startswith(plugin_packages):
            assert "from .. import hookimpl" not in path.read_text(), name
