"""The quick half of the trainer's tests (pytest -m "not slow", pytest.ini) starts no process: conftest refuses."""

import subprocess

import pytest


def test_a_quick_test_that_starts_a_process_fails_naming_the_marker():
    with pytest.raises(AssertionError, match=r"mark it @pytest\.mark\.slow"):
        subprocess.run(["true"], check=True)


@pytest.mark.slow
def test_a_slow_test_may_start_one():
    assert subprocess.run(["true"], check=True).returncode == 0
