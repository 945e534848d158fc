"""How ``make test``'s two workers share the suite (tests/conftest.py): the modules that read the
session's slice run go to one worker as one unit, so that run happens once. A module that reads the
run outside the unit would make its worker run it a second time (minutes of CI); a module in the unit
that no longer reads it only keeps the other worker idle."""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import SLICE_RUN_MODULES, SLICE_RUN_UNIT, UNIT_WEIGHTS, work_unit

INTEGRATION = Path(__file__).resolve().parents[1] / "integration"


def _reads_the_slice_run(module: Path) -> bool:
    """A function of the module (a test or a fixture) takes ``local_slice_run`` as a parameter."""
    tree = ast.parse(module.read_text(encoding="utf-8"))
    return any(arg.arg == "local_slice_run" for node in ast.walk(tree)
               if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) for arg in node.args.args)


def test_the_slice_run_unit_holds_exactly_the_modules_that_read_the_slice_run():
    readers = {module.name for module in INTEGRATION.glob("test_*.py") if _reads_the_slice_run(module)}
    assert readers == SLICE_RUN_MODULES


def test_every_weighted_unit_exists_and_the_slice_modules_map_to_their_unit():
    for unit in UNIT_WEIGHTS:
        assert unit == SLICE_RUN_UNIT or (INTEGRATION.parents[1] / unit).is_file(), unit
    for name in SLICE_RUN_MODULES:
        assert work_unit(f"tests/integration/{name}::test_x") == SLICE_RUN_UNIT
    assert work_unit("tests/integration/test_multi_day_runs.py::test_x") == "tests/integration/test_multi_day_runs.py"
