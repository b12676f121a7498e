"""Helpers that turn results into Dagster UI metadata."""

from __future__ import annotations

import base64
import io
import os
import socket

import dagster as dg
import pandas as pd

from sview_assets.config.settings import WORKER_NAME_ENV


def preview(frame: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    """First rows of a table as markdown."""
    return dg.MetadataValue.md(frame.head(rows).to_markdown(index=False))


def figure_markdown(figure, also_to=None) -> dg.MetadataValue:
    """A matplotlib figure as an inline PNG in markdown metadata; with ``also_to``, written there too (at 150 dpi, atomically)."""
    import matplotlib.pyplot as plt

    from sview_assets.util.files import atomic_path

    if also_to is not None:
        with atomic_path(also_to) as tmp:
            figure.savefig(tmp, format="png", dpi=150, bbox_inches="tight")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90, bbox_inches="tight")
    plt.close(figure)
    encoded = base64.b64encode(buffer.getvalue()).decode()
    return dg.MetadataValue.md(f"![plot](data:image/png;base64,{encoded})")


def worker_label() -> str:
    """Which machine and process ran a step: ``$SVIEW_WORKER_NAME`` (set on a worker) or the host name, and the PID."""
    return f"{os.environ.get(WORKER_NAME_ENV) or socket.gethostname()} (pid {os.getpid()})"
