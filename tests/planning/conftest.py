"""Make the repository root importable so `tests.planning.helpers` resolves under the plain `pytest`
entry point too (`python -m pytest` adds the working directory to sys.path; `pytest` does not)."""

import sys
from pathlib import Path

_ROOT = str(Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)
