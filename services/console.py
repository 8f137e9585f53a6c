"""The console's service object: one per database, shared by pages and the CLI.

Pages get it from ``app.resources`` and never see the engine inside it.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO

from sqlalchemy import Engine

from services import queries
from services.catalog import Catalog, load_catalog
from services.db import is_empty, make_engine, migrate
from services.ingest import IngestSummary, ingest_paths, ingest_stream
from services.schemas import (
    QuarantineOut,
    SearchFilters,
    SearchOut,
    TraceOut,
    TransactionSummary,
)
from services.settings import Settings, redact_url
from services.triage.classify import RuleSet, load_rules
from services.triage.state import TriageOut, get_triage

__all__ = ["Console", "open_console"]


class Console:
    """Facade over the store for one settings object."""

    def __init__(self, settings: Settings, engine: Engine) -> None:
        self.settings = settings
        self.engine = engine
        self.catalog: Catalog = load_catalog(settings.flow_catalog)
        self.rules: RuleSet = load_rules(settings.error_rules)

    def triage(self, transaction_id: str, status: str) -> TriageOut | None:
        """The triage state of a failed transaction (``open`` when nobody triaged it)."""
        return get_triage(self.engine, transaction_id=transaction_id, status=status)

    @property
    def stuck_after(self) -> timedelta:
        return timedelta(minutes=self.settings.stuck_after_minutes)

    @property
    def database_label(self) -> str:
        """The database URL with any password hidden."""
        return redact_url(self.settings.database_url)

    def find_traces(self, key: str, *, now: datetime | None = None) -> list[TraceOut]:
        return queries.find_traces(
            engine=self.engine, key=key, stuck_after=self.stuck_after, now=now, rules=self.rules
        )

    def get_trace(self, transaction_id: str, *, now: datetime | None = None) -> TraceOut | None:
        return queries.get_trace(
            engine=self.engine,
            transaction_id=transaction_id,
            stuck_after=self.stuck_after,
            now=now,
            rules=self.rules,
        )

    def search(self, filters: SearchFilters, *, now: datetime | None = None) -> SearchOut:
        return queries.search_transactions(
            engine=self.engine,
            filters=filters,
            stuck_after=self.stuck_after,
            now=now,
            rules=self.rules,
        )

    def summaries(
        self, transaction_ids: list[str], *, now: datetime | None = None
    ) -> list[TransactionSummary]:
        return queries.summaries(
            engine=self.engine,
            transaction_ids=transaction_ids,
            stuck_after=self.stuck_after,
            now=now,
            rules=self.rules,
        )

    def status_counts(
        self, filters: SearchFilters, *, now: datetime | None = None
    ) -> dict[str, int]:
        return queries.status_counts(
            engine=self.engine, filters=filters, stuck_after=self.stuck_after, now=now
        )

    def quarantine(self, *, limit: int = 200, run_id: int | None = None) -> list[QuarantineOut]:
        return queries.list_quarantine(engine=self.engine, limit=limit, run_id=run_id)

    def ingest_paths(
        self,
        paths: list[str],
        *,
        origin: str = "cli",
        progress: Callable[[int, int], None] | None = None,
    ) -> IngestSummary:
        return ingest_paths(
            engine=self.engine,
            paths=paths,
            settings=self.settings,
            catalog=self.catalog,
            origin=origin,
            progress=progress,
        )

    def ingest_upload(self, stream: IO[bytes], name: str) -> IngestSummary:
        return ingest_stream(
            engine=self.engine,
            stream=stream,
            name=name,
            settings=self.settings,
            catalog=self.catalog,
            origin="page",
        )

    def is_empty(self) -> bool:
        return is_empty(self.engine)

    def load_sample_data(self) -> IngestSummary | None:
        """Load ``sample_data/`` when the store is empty (the embedded first start)."""
        if not self.is_empty():
            return None
        folder = Path(self.settings.sample_data_dir)
        # events.jsonl first: the quarantine demo holds a conflict with one of its events.
        files = sorted(str(p) for p in folder.glob("events*.jsonl"))
        files.sort(key=lambda f: (Path(f).name != "events.jsonl", f))
        if not files:
            return None
        return ingest_paths(
            engine=self.engine,
            paths=files,
            settings=self.settings,
            catalog=self.catalog,
            origin="sample",
        )


def open_console(settings: Settings, *, migrate_store: bool = True) -> Console:
    """Connect (and migrate) the store named by ``settings``.

    Raises:
        StoreError: the database cannot be reached or migrated.
    """
    engine = make_engine(settings.database_url)
    if migrate_store:
        migrate(engine)
    return Console(settings, engine)
