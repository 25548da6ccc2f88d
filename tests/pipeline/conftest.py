"""Fixture running the real supervisor with the TEST-ONLY stand-in binding."""

import pytest

from standin_harness import StandinRun


@pytest.fixture
def standin(tmp_path):
    runs = []

    def make(**spec):
        run = StandinRun(tmp_path, **spec)
        runs.append(run)
        return run

    yield make
    for run in runs:
        if run.process and run.process.poll() is None:
            run.process.kill()
            run.process.wait()
