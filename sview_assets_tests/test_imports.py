"""Importing the code location (what the webserver, the daemon and every run do) stays cheap: no TensorFlow."""

import json
import subprocess
import sys

from sview_assets.config.settings import PROJECT_ROOT


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
    assert "sview_assets.definitions" in graph and "sview_assets.defs.assets.training" in graph["sview_assets.definitions"]
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise AssertionError(f"import cycle: {' -> '.join(error.args[1])}") from None
    assert order.index("sview_assets.definitions") > order.index("sview_assets.defs.sensors") > order.index("sview_assets.defs.jobs")


LAYERS = (
    ("util",),
    ("config",),
    ("sources",),
    ("ml", "geo", "figures", "acquisition", "cluster"),
    ("warehouse", "demo"),
    ("defs",),
    ("definitions", "sql"),
    ("cli", "ui"),
)
"""The package's layers, lowest first (ARCHITECTURE.md): a module imports only from lower layers and its own package."""
ML_LAYERS = ((), ("features",), ("training",), ("evaluation",))
"""Inside ``ml``: the runtime helpers at its top level, then features, training and evaluation."""


def layer_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that reaches a higher layer, or across packages of one layer (or up inside ``ml``)."""
    rank = {package: i for i, packages in enumerate(LAYERS) for package in packages}
    ml_rank = {sub: i for i, subs in enumerate(ML_LAYERS) for sub in subs}

    def place(module: str) -> tuple[str, int, int]:
        parts = module.split(".")
        package = parts[1]
        if package not in rank:
            raise AssertionError(f"{module}: package {package!r} has no layer; add it to LAYERS and ARCHITECTURE.md")
        inner = ml_rank.get(parts[2], 0) if package == "ml" and len(parts) > 3 else 0
        return package, rank[package], inner

    violations = []
    for module, imported in graph.items():
        if module == "sview_assets":
            continue
        package, level, inner = place(module)
        for target in imported:
            target_package, target_level, target_inner = place(target)
            if target_level > level or (target_level == level and target_package != package) or (package == target_package == "ml" and target_inner > inner):
                violations.append(f"{module} imports {target}")
    return sorted(violations)


def test_modules_import_only_from_lower_layers():
    assert layer_violations(package_imports()) == []


def test_the_layer_check_catches_an_import_that_runs_up():
    graph = package_imports()
    graph["sview_assets.ml.features.vgg16"] = graph["sview_assets.ml.features.vgg16"] | {"sview_assets.warehouse.tables"}
    graph["sview_assets.ml.features.extract"] = graph["sview_assets.ml.features.extract"] | {"sview_assets.ml.training.presets"}
    graph["sview_assets.config.settings"] = graph["sview_assets.config.settings"] | {"sview_assets.defs.scope"}
    assert layer_violations(graph) == [
        "sview_assets.config.settings imports sview_assets.defs.scope",
        "sview_assets.ml.features.extract imports sview_assets.ml.training.presets",
        "sview_assets.ml.features.vgg16 imports sview_assets.warehouse.tables",
    ]
