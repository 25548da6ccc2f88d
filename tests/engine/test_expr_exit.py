"""Interpreter exit with live contexts prints nothing (the per-context function
tables are dropped by weakref callbacks, also during shutdown)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SCRIPT = """
from crowdsec_mp.engine.context import EngineContext
from crowdsec_mp.engine.expr import compile_expr
contexts = [EngineContext() for _ in range(5)]
for ctx in contexts:
    compile_expr("Upper('a') == 'A'", ctx).run({})
del contexts[0]
"""


def test_no_exception_ignored_at_exit():
    done = subprocess.run([sys.executable, "-c", SCRIPT], cwd=REPO, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert "Exception ignored" not in done.stderr
    assert done.stderr == ""
