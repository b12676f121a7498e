"""The Dagster instance a command-line program records its runs in, with a clear error when its database is away.

``$DAGSTER_HOME`` names the instance (the Makefile sets ``data/.dagster``); without it runs live in memory
for this process only. An instance on PostgreSQL (``instance/dagster-postgres.yaml``) that cannot be
reached fails with the address from ``$SVIEW_POSTGRES_URL``, its password hidden, instead of Dagster's
"too many retries for DB connection".
"""

from __future__ import annotations

import os

import dagster as dg

from sview_assets.config.settings import POSTGRES_URL_ENV


class InstanceUnavailable(RuntimeError):
    """The instance's database does not answer; the message says which and what to do."""


def redacted_url(url: str) -> str:
    """``url`` with its password replaced by ``***``, fit for a message or a log."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 -- an unparsable URL is shown by its scheme only
        return url.split("://", 1)[0] + "://…"


def database_unavailable(exc: BaseException) -> InstanceUnavailable | None:
    """A clear error for ``exc`` when it (or its cause) is a lost PostgreSQL connection of the instance; else None."""
    url = os.environ.get(POSTGRES_URL_ENV)
    if not url:
        return None
    chain, current = [], exc
    while current is not None and len(chain) < 10:
        chain.append(current)
        current = current.__cause__ or current.__context__
    names = {type(e).__name__ for e in chain}
    if not names & {"DagsterPostgresException", "OperationalError", "InterfaceError"}:
        return None
    return InstanceUnavailable(
        f"The Dagster instance's PostgreSQL database ({POSTGRES_URL_ENV}={redacted_url(url)}) does not answer: {str(chain[-1]).strip().splitlines()[0]}. "
        "Start the database (or point the variable at one that runs); runs left unfinished are marked failed by the run_watchdog "
        "sensor once it is back, so the queue moves on."
    )


def open_instance() -> dg.DagsterInstance:
    """The instance of ``$DAGSTER_HOME`` (an in-memory one without it), or :class:`InstanceUnavailable`."""
    if not os.environ.get("DAGSTER_HOME"):
        return dg.DagsterInstance.ephemeral()
    try:
        return dg.DagsterInstance.get()
    except Exception as exc:
        unavailable = database_unavailable(exc)
        if unavailable is None:
            raise
        raise unavailable from None
