"""Package layering of the base layer: one-way imports, no repository-relative paths."""
from __future__ import annotations

import ast
import configparser
import fnmatch
import shutil
import subprocess
import sys
from pathlib import Path

import gfvc.baselayer
from gfvc.codec import registry

PKG = Path(gfvc.baselayer.__file__).parent
REPO = Path(__file__).resolve().parent.parent


def _imports(path: Path, package: str) -> set[str]:
    """Absolute names of the gfvc modules a module imports (relative imports resolved)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
                names.add(mod)
                names.update(f"{mod}.{a.name}" for a in node.names)  # 'from . import x' may import a module
            elif node.module:
                names.add(node.module)
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return {n for n in names if n.startswith("gfvc")}


def test_anchors_live_in_gfvc_codec_and_the_registry_loads_them_there():
    assert not (PKG / "anchors.py").exists()
    assert "gfvc.codec.anchors" in Path(registry.__file__).read_text()
    assert {"hevc_anchor", "vvc_anchor"} <= set(registry.available_codecs())
    from gfvc.codec.anchors import HevcAnchor

    assert registry.get_codec("hevc_anchor").__class__ is HevcAnchor


def test_baselayer_imports_nothing_from_codec_and_has_no_cycle():
    graph = {}
    for path in PKG.glob("*.py"):
        mod = "gfvc.baselayer" if path.stem == "__init__" else f"gfvc.baselayer.{path.stem}"
        imported = _imports(path, "gfvc.baselayer")
        if path.stem != "benchmark":  # the benchmark app measures the anchors too: it sits above both
            assert not any(n.startswith("gfvc.codec") for n in imported), f"{mod} imports gfvc.codec"
        graph[mod] = {n for n in imported if n.startswith("gfvc.baselayer.")}
    # the package __init__ re-exports; cycles among the submodules are what matter
    modules = {m for m in graph if m != "gfvc.baselayer"}
    state = {}

    def visit(m, trail):
        if state.get(m) == "done":
            return
        assert state.get(m) != "open", "import cycle: " + " -> ".join(trail + [m])
        state[m] = "open"
        for n in sorted(graph[m] & modules):
            visit(n, trail + [m])
        state[m] = "done"

    for m in sorted(modules):
        visit(m, [])
    assert "gfvc.baselayer.ffmpeg" not in graph["gfvc.baselayer.decoders"]


def test_no_repository_relative_paths_in_baselayer():
    for path in PKG.glob("*.py"):
        assert "parents[" not in path.read_text(), path.name


def test_structure_cfgs_are_package_data(tmp_path):
    cfgs = sorted(p.relative_to(PKG).as_posix() for p in (PKG / "cfg").rglob("*.cfg"))
    assert len(cfgs) == 6
    setup = configparser.ConfigParser()
    setup.read(REPO / "setup.cfg")
    globs = [g.strip() for g in setup["options.package_data"]["gfvc.baselayer"].split(",")]
    assert all(any(fnmatch.fnmatch(c, g) for g in globs) for c in cfgs)
    # an installed copy of the package (no repository around it) finds its own cfg files
    site = tmp_path / "site"
    shutil.copytree(PKG.parent, site / "gfvc", ignore=shutil.ignore_patterns("__pycache__"))
    code = ("from gfvc.baselayer import get_backend; b = get_backend('vtm'); "
            "print(b.structure_cfg('lowdelay_B'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=tmp_path,
                         env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"}, check=True).stdout.strip()
    assert Path(out) == site / "gfvc" / "baselayer" / "cfg" / "vtm" / "encoder_lowdelay_vtm.cfg"
