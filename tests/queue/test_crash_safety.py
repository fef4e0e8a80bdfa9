"""kill -9 at random moments loses no acknowledged record and doubles none (see crash_harness)."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("pyauditor.testing")

from .crash_harness import run


@pytest.mark.slow
@pytest.mark.timeout(240)
def test_kill_9_at_100_random_points(tmp_path: Path) -> None:
    report = run(tmp_path, slots=3, kills=34)
    print(report.summary())
    assert report.kills >= 100
    assert not report.problems, report.summary()
    assert len(report.acked) > 1000
