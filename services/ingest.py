"""Ingestion: files, streams or Python objects into the trace store.

Three ways in share this module: ``q2c ingest``, the Ingest page and
:func:`ingest_events` for Python callers. Every item is accounted for as
accepted, duplicate, conflict (quarantined) or rejected (quarantined).
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

from sqlalchemy import Connection, Engine, RootTransaction, insert, update
from sqlalchemy.exc import SQLAlchemyError

from services.catalog import Catalog, load_catalog
from services.checks import Rejected, check_item
from services.db import lock_writers, writer_connection
from services.errors import InputError, StoreError
from services.models import IngestRun
from services.reader import UNDECODED, Item, open_input, read_items
from services.settings import Settings, load_settings
from services.store import (
    Parsed,
    insert_quarantine,
    quarantine_row,
    write_batch,
)

__all__ = ["IngestSummary", "Rejection", "ingest_paths", "ingest_stream", "ingest_events"]

MAX_LISTED = 1000  # rejections listed in a summary; the counts are always complete


@dataclass(slots=True)
class Rejection:
    where: str
    reason: str

    def to_dict(self) -> dict[str, str]:
        return {"where": self.where, "reason": self.reason}


@dataclass
class IngestSummary:
    """What one ingest did: the contract of ``q2c ingest --json``."""

    received: int = 0
    accepted: int = 0
    duplicates: int = 0
    conflicts: int = 0
    rejected: int = 0
    rejections: list[Rejection] = field(default_factory=list)
    file_errors: list[Rejection] = field(default_factory=list)
    run_id: int | None = None

    @property
    def exit_code(self) -> int:
        """0 all accepted or duplicate, 1 anything rejected or conflicted, 2 file errors."""
        if self.file_errors:
            return 2
        return 1 if (self.rejected or self.conflicts) else 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "received": self.received,
            "accepted": self.accepted,
            "duplicates": self.duplicates,
            "conflicts": self.conflicts,
            "rejected": self.rejected,
            "rejections": [r.to_dict() for r in self.rejections],
        }
        if self.file_errors:
            out["file_errors"] = [r.to_dict() for r in self.file_errors]
        if self.run_id is not None:
            out["run_id"] = self.run_id
        return out

    def _note(self, where: str, reason: str) -> None:
        if len(self.rejections) < MAX_LISTED:
            self.rejections.append(Rejection(where, reason))


class _Ingestor:
    """Parses items and writes them in batches, one database transaction each."""

    def __init__(
        self,
        engine: Engine,
        settings: Settings,
        catalog: Catalog,
        origin: str,
        progress: Callable[[int, int], None] | None,
    ) -> None:
        self.engine = engine
        self.settings = settings
        self.catalog = catalog
        self.summary = IngestSummary()
        self.progress = progress
        self.now = datetime.now(UTC).replace(tzinfo=None)
        self.batch: list[Parsed] = []
        self.pending_bytes = 0
        self.bad: list[dict[str, Any]] = []
        self.notes: list[Rejection] = []  # the batch's rejections, listed once it is stored
        self.pending: _Pending | None = None
        self.committer: ThreadPoolExecutor | None = None
        try:
            with engine.begin() as conn:
                self.run_id = conn.execute(
                    insert(IngestRun).values(started_at=self.now, origin=origin, files="")
                ).inserted_primary_key[0]  # type: ignore[index]
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to the database: {_first_line(exc)}") from None
        self.summary.run_id = self.run_id
        self.files: list[str] = []

    def add(self, item: Item) -> None:
        self.take(
            check_item(item, catalog=self.catalog, max_event_bytes=self.settings.max_event_bytes)
        )

    def take(self, result: Parsed | Rejected) -> None:
        """Count one checked item; flush a full batch."""
        self.summary.received += 1
        self.pending_bytes += len(result.raw) + 1
        if isinstance(result, Rejected):
            self._reject(result)
        else:
            self.batch.append(result)
        if len(self.batch) + len(self.bad) >= self.settings.ingest_batch_size:
            self.flush()

    def _reject(self, r: Rejected) -> None:
        self.summary.rejected += 1
        self.notes.append(Rejection(r.where, r.reason))
        self.bad.append(
            quarantine_row(
                kind="rejected",
                where=r.where,
                reason=r.reason,
                raw=r.raw,
                run_id=self.run_id,
                now=self.now,
                value={"source": r.source, "id": r.event_id},
            )
        )

    def flush(self) -> None:
        """Write the batch in one database transaction; its commit runs in the background.

        The commit (WAL write, checkpoint) is a third of ingest time and releases
        the GIL, so it overlaps with reading and checking the next batch. Nothing
        else touches the connection meanwhile: the next flush first waits for it.
        """
        self._settle()
        if not self.batch and not self.bad:
            return
        batch, bad, notes = self.batch, self.bad, self.notes
        done = (len(batch) + len(bad), self.pending_bytes)
        self.batch, self.bad, self.notes, self.pending_bytes = [], [], [], 0
        conn = writer_connection(self.engine)
        try:
            trans = conn.begin()
            lock_writers(conn)
            res = write_batch(conn, batch, catalog=self.catalog, run_id=self.run_id, now=self.now)
            for p, reason in res.conflicts:
                notes.append(Rejection(p.where, reason))
                bad.append(
                    quarantine_row(
                        kind="conflict",
                        where=p.where,
                        reason=reason,
                        raw=p.raw,
                        run_id=self.run_id,
                        now=self.now,
                        value=p.value,
                    )
                )
            insert_quarantine(conn, bad)
        except BaseException as exc:
            conn.close()  # rolls the batch back
            if isinstance(exc, SQLAlchemyError):
                raise StoreError(f"cannot write to the database: {_first_line(exc)}") from None
            raise
        if self.committer is None:
            self.committer = ThreadPoolExecutor(1, thread_name_prefix="q2c-commit")
        future = self.committer.submit(_commit, conn, trans)
        self.pending = _Pending(
            future, res.accepted, res.duplicates, len(res.conflicts), notes, done
        )
        del batch, bad
        gc.collect(1)

    def _settle(self) -> None:
        """Wait for the batch being committed, then count it and report progress."""
        pending, self.pending = self.pending, None
        if pending is None:
            return
        try:
            pending.future.result()
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to the database: {_first_line(exc)}") from None
        s = self.summary
        s.accepted += pending.accepted
        s.duplicates += pending.duplicates
        s.conflicts += pending.conflicts
        for note in pending.notes:
            s._note(note.where, note.reason)
        if self.progress:
            self.progress(*pending.done)

    def close(self) -> None:
        """Wait for a commit still running (also when ingest stopped on an error)."""
        pending, self.pending = self.pending, None
        if pending is not None:
            wait([pending.future])
        if self.committer is not None:
            self.committer.shutdown(wait=True)
            self.committer = None

    def finish(self) -> IngestSummary:
        self.flush()
        self._settle()
        self.close()
        s = self.summary
        try:
            with self.engine.begin() as conn:
                conn.execute(
                    update(IngestRun)
                    .where(IngestRun.id == self.run_id)
                    .values(
                        finished_at=datetime.now(UTC).replace(tzinfo=None),
                        files=json.dumps(self.files),
                        received=s.received,
                        accepted=s.accepted,
                        duplicates=s.duplicates,
                        conflicts=s.conflicts,
                        rejected=s.rejected,
                    )
                )
        except SQLAlchemyError as exc:
            raise StoreError(f"cannot write to the database: {_first_line(exc)}") from None
        return s


@dataclass(slots=True)
class _Pending:
    """A written batch whose commit is running."""

    future: Future[None]
    accepted: int
    duplicates: int
    conflicts: int
    notes: list[Rejection]  # rejections then conflicts, in the order received
    done: tuple[int, int]  # items and bytes, for progress


def _commit(conn: Connection, trans: RootTransaction) -> None:
    try:
        trans.commit()
    finally:
        conn.close()


def _first_line(exc: BaseException) -> str:
    text = str(getattr(exc, "orig", None) or exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def ingest_stream(
    *,
    engine: Engine,
    stream: IO[bytes],
    name: str,
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    origin: str = "api",
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Ingest one stream (file, stdin, upload).

    Args:
        engine: the store (migrated).
        stream: binary stream holding one event, a JSON array or JSONL.
        name: how places are named in reasons (``name:line``).
        origin: recorded on the ingest run (``cli``, ``page``, ``api``, ``seed``).
        progress: called after each batch with the items and the bytes (about: the
            raw text of each item) handled in it.

    Returns:
        The summary; a stream that cannot be read at all is a file error in it.

    Example:
        >>> summary = ingest_stream(engine=engine, stream=open("e.jsonl", "rb"), name="e.jsonl")
        >>> summary.to_dict()["accepted"]
    """
    return ingest_paths(
        engine=engine,
        paths=[],
        streams=[(name, stream)],
        settings=settings,
        catalog=catalog,
        origin=origin,
        progress=progress,
    )


def ingest_paths(
    *,
    engine: Engine,
    paths: Iterable[str],
    streams: Iterable[tuple[str, IO[bytes]]] = (),
    settings: Settings | None = None,
    catalog: Catalog | None = None,
    origin: str = "cli",
    progress: Callable[[int, int], None] | None = None,
) -> IngestSummary:
    """Ingest files by path (``-`` is stdin) and/or open streams, in order.

    A file that cannot be read (missing, a directory, binary, empty) is reported in
    ``file_errors``; the other files are still ingested.
    """
    settings = settings or load_settings()
    catalog = catalog or load_catalog(settings.flow_catalog)
    with _bulk_gc():
        return _ingest_sources(engine, paths, streams, settings, catalog, origin, progress)


@contextmanager
def _bulk_gc() -> Iterator[None]:
    """Pause automatic cyclic garbage collection while ingesting.

    Automatic collections cost about a fifth of ingest time; instead each batch
    ends with a young-generation collection (see ``_Ingestor.flush``), which
    frees the few cycles SQLAlchemy statements leave behind, so memory stays flat.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _ingest_sources(
    engine: Engine,
    paths: Iterable[str],
    streams: Iterable[tuple[str, IO[bytes]]],
    settings: Settings,
    catalog: Catalog,
    origin: str,
    progress: Callable[[int, int], None] | None,
) -> IngestSummary:
    job = _Ingestor(engine, settings, catalog, origin, progress)
    try:
        sources: list[tuple[str, IO[bytes] | None]] = [(p, None) for p in paths]
        sources.extend(streams)
        for name, stream in sources:
            job.files.append(name)
            try:
                own = stream is None
                handle = open_input(name) if stream is None else stream
                try:
                    for item in read_items(handle, name):
                        job.add(item)
                finally:
                    if own and name != "-":
                        handle.close()
            except InputError as exc:
                job.summary.file_errors.append(Rejection(name, str(exc)))
            except OSError as exc:
                reason = f"{name}: cannot read: {exc.strerror}"
                job.summary.file_errors.append(Rejection(name, reason))
        return job.finish()
    finally:
        job.close()


def ingest_events(
    *,
    engine: Engine,
    events: Iterable[Any],
    name: str = "api",
    settings: Settings | None = None,
    catalog: Catalog | None = None,
) -> IngestSummary:
    """Ingest already-decoded event objects (the Python way in).

    Example:
        >>> ingest_events(engine=engine, events=[{"specversion": "1.0", ...}]).accepted
    """
    import orjson

    settings = settings or load_settings()
    catalog = catalog or load_catalog(settings.flow_catalog)
    with _bulk_gc():
        job = _Ingestor(engine, settings, catalog, "api", None)
        try:
            job.files.append(name)
            for n, value in enumerate(events, start=1):
                where = f"{name} item {n}"
                try:
                    raw = orjson.dumps(value).decode()
                except TypeError as exc:
                    job.add(Item(where, repr(value)[:10_000], UNDECODED, f"not JSON: {exc}"))
                    continue
                job.add(Item(where, raw, value))
            return job.finish()
        finally:
            job.close()
