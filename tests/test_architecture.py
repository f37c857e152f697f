"""The import walls of docs/ARCHITECTURE.md: a test fails when an import crosses one.

The contracts live in pyproject.toml ([tool.importlinter]); import-linter reads every import of kb and web
(including imports inside functions) and reports the chain that breaks a contract.
"""
from __future__ import annotations

import sys
import tomllib
from pathlib import Path

import pytest
from importlinter import configuration
from importlinter.application.use_cases import lint_imports

configuration.configure()           # import-linter's adapters, as its own command sets them up

ROOT = Path(__file__).resolve().parent.parent
CONTRACTS = [c["id"] for c in tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]]


def test_the_contracts_are_the_documented_ones():
    assert CONTRACTS == ["layers", "library-without-web", "recommend-without-whoosh", "whoosh-in-one-folder",
                         "analysis-below-search"]


def holds(root: Path, contract_id: str) -> bool:
    """Whether the tree at root keeps one contract; import-linter prints the chains that break it."""
    return lint_imports(config_filename=str(root / "pyproject.toml"), limit_to_contracts=(contract_id,),
                        cache_dir=None, no_logo=True)


@pytest.mark.parametrize("contract_id", CONTRACTS)
def test_import_contract_holds(contract_id, monkeypatch, capsys):
    monkeypatch.chdir(ROOT)
    kept = holds(ROOT, contract_id)
    assert kept, capsys.readouterr().out


def import_cycles(root: Path) -> list[tuple[str, str]]:
    """Imports (module, imported) that lead back to the importing module, counting imports inside functions
    (grimp, the graph import-linter is built on, reads the tree at root)."""
    import grimp

    sys.path.insert(0, str(root))
    try:
        graph = grimp.build_graph("kb", "web", cache_dir=None)
    finally:
        sys.path.remove(str(root))
    return sorted((m, i) for m in graph.modules for i in graph.find_modules_directly_imported_by(m)
                  if graph.chain_exists(i, m))


def test_no_module_imports_one_that_imports_it_back(monkeypatch):
    """No import cycles, not even through a function-level import (the old CLI cycle of 7 files, loader↔checks,
    engine↔searcher and editing↔shared.editor are gone; a cycle means a module sits on the wrong floor)."""
    monkeypatch.chdir(ROOT)
    assert import_cycles(ROOT) == []


def tree_copy(tmp_path: Path) -> Path:
    import shutil

    for name in ("kb", "web"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("content", "__pycache__", "static",
                                                                                     "templates"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_the_cycle_check_catches_a_function_level_cycle(tmp_path, monkeypatch):
    root = tree_copy(tmp_path)
    files = root / "kb" / "files.py"
    files.write_text(files.read_text(encoding="utf-8") + "\n\ndef _late():\n    from . import build\n", encoding="utf-8")
    for module in [m for m in sys.modules if m.split(".")[0] in ("kb", "web")]:
        monkeypatch.delitem(sys.modules, module)
    assert ("kb.files", "kb.build") in import_cycles(root)


def test_the_wall_catches_a_library_module_importing_web(tmp_path, monkeypatch, capsys):
    """The test is not blind: a copy of the tree in which one kb module imports web inside a function
    breaks the contract, and the report names the import."""
    tree_copy(tmp_path)
    stats = tmp_path / "kb" / "stats.py"
    stats.write_text(stats.read_text(encoding="utf-8") + "\n\ndef _page():\n    from web import pages\n", encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))      # the copy's kb and web, not the installed ones
    for module in [m for m in sys.modules if m.split(".")[0] in ("kb", "web")]:
        monkeypatch.delitem(sys.modules, module)
    assert not holds(tmp_path, "library-without-web")
    assert "kb.stats -> web.pages" in capsys.readouterr().out
