"""Importing the code location (what the webserver, the daemon and every run do) stays cheap: no TensorFlow."""

import json
import subprocess
import sys

from sview_assets.settings import PROJECT_ROOT


def test_importing_the_definitions_leaves_tensorflow_and_keras_out():
    probe = "import json, sys; import sview_assets.definitions; print(json.dumps(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules)))"
    done = subprocess.run([sys.executable, "-c", probe], cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1]) == []


def package_imports() -> dict[str, set[str]]:
    """Each module of the package -> the package modules it imports, anywhere in its code (functions included)."""
    import ast

    root = PROJECT_ROOT / "sview_assets"
    modules = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(PROJECT_ROOT).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph = {}
    for name, path in modules.items():
        package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                base = package.split(".")
                base = base[: len(base) - node.level + 1] if node.level else []
                target = ".".join(base + ([node.module] if node.module else []))
                candidates = [f"{target}.{alias.name}" for alias in node.names] + [target]
            elif isinstance(node, ast.Import):
                candidates = [alias.name for alias in node.names]
            else:
                continue
            found |= {c for c in candidates if c in modules and c != name and not name.startswith(c + ".") and c != "sview_assets"}
        graph[name] = found
    return graph


def test_package_modules_import_each_other_without_a_cycle():
    from graphlib import CycleError, TopologicalSorter

    graph = package_imports()
    assert "sview_assets.definitions" in graph and "sview_assets.assets.training" in graph["sview_assets.definitions"]
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
    assert order.index("sview_assets.definitions") > order.index("sview_assets.sensors") > order.index("sview_assets.jobs")
    assert not {"sview_assets.definitions", "sview_assets.pipeline"} & set().union(*(graph[m] for m in graph if m.startswith("sview_assets.assets")))
