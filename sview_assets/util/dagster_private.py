"""The one place sview reaches into Dagster's private modules, so an upgrade that moves them breaks here, by name.

The Dask executor (``cluster/dask_steps.py``) waits for its steps the way Dagster's own executors do:
each wait on the next finished step runs inside Dagster's interrupt handling, so a Ctrl-C or a run
termination stops the wait while the events of finished steps are passed on untouched. Dagster has no
public API for this; ``sview_assets_tests/test_dagster_private.py`` checks both names and how they behave.
"""

from dagster._core.errors import raise_execution_interrupts
from dagster._utils import iterate_with_context

__all__ = ["iterate_with_context", "raise_execution_interrupts"]
