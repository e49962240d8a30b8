"""Fuzzing every registered format's reader: bad input ends in kedit's own error, never a foreign one,
and whatever a reader accepts goes through write-back, export and annotation tasks (fuzz_inputs.py).

Reproducible: Hypothesis runs derandomized (a fixed seed per test) and keeps no example database.
benchmarks/fuzz.py runs the same generators on 10,000 inputs per reader.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings

from kedit.records import FORMATS

from .fuzz_inputs import bad_files, exercise, foreign

FUZZ = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                       HealthCheck.large_base_example])


@pytest.mark.parametrize("fmt", FORMATS.names())
def test_bad_input_ends_in_a_kedit_error_and_accepted_cases_go_downstream(fmt):
    @FUZZ
    @given(data=bad_files(fmt))
    def run(data: bytes) -> None:
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "bench.json"
            path.write_bytes(data)
            bad = foreign(exercise(path, fmt, Path(d)))
            assert not bad, bad

    run()
