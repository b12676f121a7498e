"""The Dagster private names sview uses (``util/dagster_private.py``) are there and behave as the Dask executor expects."""

import contextlib

from sview_assets.util.dagster_private import iterate_with_context, raise_execution_interrupts


def test_iterate_with_context_enters_the_context_for_every_wait_and_passes_items_through():
    entered = []

    @contextlib.contextmanager
    def counting():
        entered.append(len(entered))
        yield

    items = list(iterate_with_context(counting, iter(["a", "b", "c"])))
    assert items == ["a", "b", "c"]
    assert len(entered) == 4, "one wait per item and one for the end"


def test_raise_execution_interrupts_is_a_context_manager_that_lets_normal_work_through():
    with raise_execution_interrupts():
        total = sum(range(10))
    assert total == 45
