"""The README's layout list names every module of the tree, and only those; the package's
layers hold (the metric needs nothing of the GAN; no script edits sys.path)."""

import re

from tests.conftest import REPO


def _listed() -> list[str]:
    text = (REPO / "README.md").read_text()
    block = text.split("## Layout", 1)[1].split("```", 2)[1]
    return [line.split()[0] for line in block.strip().splitlines() if line.strip()]


def _modules() -> set[str]:
    found = set()
    for pattern in ("*.py", "cxr_gan/**/*.py", "experiments/*.py", "benchmarks/*.py",
                    "tools/**/*.py"):
        found |= {str(p.relative_to(REPO)) for p in REPO.glob(pattern)
                  if p.name != "__init__.py" and ".venv" not in p.parts}
    return found


def test_the_readme_layout_lists_every_module_once():
    listed = _listed()
    assert len(listed) == len(set(listed))
    assert set(listed) == _modules()


def _imports(path) -> set[str]:
    return set(re.findall(r"^\s*(?:from|import) (cxr_gan(?:\.\w+)*)", path.read_text(),
                          re.MULTILINE))


def test_the_metric_imports_nothing_of_the_gan():
    for path in (REPO / "cxr_gan" / "fid").glob("*.py"):
        assert not any(name.startswith("cxr_gan.gan") for name in _imports(path)), path.name


def test_the_low_layer_imports_nothing_above_it():
    allowed = {"cli.py": set(), "machine.py": set(), "io.py": {"cxr_gan.cli"},
               "rundir.py": {"cxr_gan.cli"}}
    for name, modules in allowed.items():
        assert _imports(REPO / "cxr_gan" / name) <= modules, name


def test_no_sys_path_edits_outside_tests():
    found = [path for path in _modules() if "sys.path" in (REPO / path).read_text()]
    assert found == []
