"""SVIEW_TF_THREADS: a positive whole number, or a clear error naming the variable."""

import pytest

from sview_assets.ml.threads import THREADS_ENV, available_cores


@pytest.mark.parametrize("value", ["abc", "0", "-2", "1.5"])
def test_bad_thread_counts_name_the_variable(monkeypatch, value):
    monkeypatch.setenv(THREADS_ENV, value)
    with pytest.raises(ValueError, match=f"SVIEW_TF_THREADS='{value}' is not a positive whole number"):
        available_cores()


def test_thread_count_from_the_environment_or_the_affinity(monkeypatch):
    monkeypatch.setenv(THREADS_ENV, "3")
    assert available_cores() == 3
    monkeypatch.delenv(THREADS_ENV)
    import os

    assert available_cores() == len(os.sched_getaffinity(0))
