"""Deterministic sample data: step events, master data and a quarantine demo.

Same ``seed`` and ``transactions`` give byte-identical files: one
``random.Random(seed)`` drives everything, times are fixed (the data set spans
2026-10-01 to 2026-11-25T12:00Z), JSON keys keep a stable insertion order and
lines end in ``\\n``. What the transactions mean (flows, failure modes) is
described in the generated ``README.md``; :mod:`services.seed_master` holds the
master data and :mod:`services.seed_steps` the wire format of each step.
"""

from __future__ import annotations

import random
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from services.catalog import load_catalog
from services.seed_master import Master, build_master
from services.seed_report import dump, dump_records, quarantine_lines, render_readme, tally
from services.seed_steps import Tx, error_for, payload, step_keys
from services.seed_tx import MODES, bind, close, on_success, script
from services.seed_validation import add_validation_demo

__all__ = ["END", "START", "SeedSummary", "generate"]

START = datetime(2026, 10, 1, tzinfo=UTC)
END = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
OUTAGE = (datetime(2026, 11, 12, 14, 0, tzinfo=UTC), datetime(2026, 11, 12, 16, 0, tzinfo=UTC))
PERIOD_CLOSED_FROM = datetime(2026, 11, 6, 14, 0, tzinfo=UTC)
FLOW_WEIGHTS = {
    "order_activation": 34,
    "renewal": 26,
    "amendment": 17,
    "usage_trueup": 14,
    "payment": 9,
}
_GAPS = {
    "order.validate": (1, 6),
    "customer.upsert": (2, 15),
    "subscription.create": (3, 25),
    "salesorder.create": (2, 30),
    "tax.calculate": (1, 8),
    "invoice.create": (30, 900),
    "invoice.post": (20, 400),
    "subscription.amend": (20, 300),
    "subscription.renew": (20, 600),
    "payment.post": (5, 120),
}
_LATENCY = {
    "salesforce": (90, 700),
    "middleware": (4, 60),
    "erp": (250, 2600),
    "billing": (180, 1600),
    "tax": (70, 450),
}


@dataclass(frozen=True)
class SeedSummary:
    """What :func:`generate` wrote: event lines, transactions, files (relative paths)."""

    events: int
    transactions: int
    files: list[str]
    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """A plain dict (JSON-ready)."""
        return asdict(self)


@dataclass
class _Line:
    deliver: datetime
    seq: int
    obj: dict[str, Any]
    tx: Tx
    native: bool = False


def _fmt(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{t.microsecond // 1000:03d}Z"


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[int(h[16], 16) % 4]}{h[17:20]}-{h[20:]}"


def _plan(rng: random.Random, n: int) -> list[tuple[str, str]]:
    """``(mode, flow)`` per transaction: every mode at least once as far as ``n`` allows."""
    special: list[tuple[int, int, str, str]] = []
    for order, (mode, (rate, minimum, flows, _)) in enumerate(MODES.items()):
        for i in range(max(minimum, round(n * rate))):
            flow = (
                flows[i]
                if i < len(flows)
                else rng.choices(flows, [FLOW_WEIGHTS[f] for f in flows])[0]
            )
            special.append((i, order, mode, flow))
    special.sort()
    plan = [(mode, flow) for _, _, mode, flow in special[:n]]
    names, weights = list(FLOW_WEIGHTS), list(FLOW_WEIGHTS.values())
    while len(plan) < n:
        k = len(plan) - len(special)  # the first normal ones: each flow once
        plan.append(("normal", names[k] if k < len(names) else rng.choices(names, weights)[0]))
    return plan


def _when(rng: random.Random, lo: datetime, hi: datetime, flow: str) -> datetime:
    """A plausible business time in ``[lo, hi]`` (usage runs at night)."""
    days = max(1, (hi - lo).days + 1)
    for _ in range(200):
        day = (lo + timedelta(days=rng.randrange(days))).replace(
            hour=0, minute=0, second=0, microsecond=0
        )
        if day.weekday() >= 5 and rng.random() < 0.75:
            continue
        hour = (
            rng.uniform(1, 4)
            if flow == "usage_trueup"
            else min(
                23.9, max(0.0, rng.gauss(15.5, 3.2) if rng.random() < 0.6 else rng.gauss(9.5, 2.0))
            )
        )
        t = day + timedelta(hours=hour, milliseconds=rng.randrange(1000))
        if lo <= t <= hi:
            return t
    return lo + (hi - lo) * rng.random()


def _schedule(rng: random.Random, tx: Tx, ops: list[str]) -> None:
    """Pick the gaps between steps and the start time that the mode needs."""
    gaps = [0.0] + [rng.uniform(*_GAPS.get(op, (1, 20))) for op in ops[1:]]
    offs = [sum(gaps[: i + 1]) for i in range(len(gaps))]
    tx.extra["gaps"] = gaps
    if tx.mode.startswith("tax_outage"):
        anchor = ops.index("tax.calculate")
        target = OUTAGE[0] + timedelta(seconds=rng.uniform(60, 6600))
    elif tx.mode == "period_closed":
        anchor = ops.index("invoice.post")
        target = _when(rng, PERIOD_CLOSED_FROM, END - timedelta(days=1), tx.flow)
    elif tx.mode in ("stuck", "in_flight"):
        anchor = rng.randrange(len(ops) - 1)
        tx.extra["stop"] = anchor
        tx.extra["pending"] = rng.random() < 0.5
        if tx.mode == "stuck":
            lo = START + timedelta(days=1) if rng.random() < 0.5 else END - timedelta(days=7)
            target = _when(rng, lo, END - timedelta(hours=2), tx.flow)
        else:
            target = END - timedelta(seconds=rng.uniform(17 * 60, 27 * 60))
            gaps[anchor + 1 :] = [min(g, 600.0) for g in gaps[anchor + 1 :]]
    else:
        anchor = 0
        target = _when(rng, START + timedelta(hours=1), END - timedelta(hours=1), tx.flow)
    start = target - timedelta(seconds=offs[anchor])
    if "tax.calculate" in ops and not tx.mode.startswith("tax_outage"):
        at = start + timedelta(seconds=offs[ops.index("tax.calculate")])
        if OUTAGE[0] - timedelta(minutes=20) <= at <= OUTAGE[1] + timedelta(minutes=20):
            start -= timedelta(hours=5)
    if tx.mode not in ("stuck", "in_flight"):
        latest = END - timedelta(seconds=offs[-1] + 900)
        if start > latest:
            start = latest - timedelta(seconds=rng.uniform(0, 6 * 3600))
    tx.start = start


def _event(
    rng: random.Random,
    tx: Tx,
    system: str,
    op: str,
    status: str,
    when: datetime,
    attempt: int,
    code: str | None,
    native: bool,
    latency: int,
) -> dict[str, Any]:
    """One step event as the contract's JSON object."""
    keys = step_keys(tx, op, status)
    if native and status == "succeeded" and tx.mode != "erp_native":
        keys.pop("order_number", None)  # linked through the started event: transitive
    endpoint, request, response = payload(tx, op, when)
    data: dict[str, Any] = {"system": system, "operation": op}
    if not native:
        data["flow"] = tx.flow
    data["attempt"] = attempt
    data["keys"] = keys
    if not native:
        data["idempotency_key"] = f"{tx.cid}:{op}"
        data["endpoint"] = endpoint
        if request is not None:
            data["request"] = request
    err = None
    if status == "failed":
        assert code is not None
        err, response = error_for(tx, system, code)
    if status != "started" and response is not None:
        data["response"] = response
    if err is not None:
        data["error"] = err
    if status != "started":
        data["latency_ms"] = latency
    money = (
        tx.tax
        if op == "tax.calculate"
        else (tx.amount + tx.tax if op in ("invoice.create", "invoice.post") else tx.amount)
    )
    data.update({"amount": f"{money:.2f}", "currency": tx.currency, "legal_entity": tx.entity})
    if native:
        erp_id = tx.invoice.erp_id if tx.invoice else "0"
        eid = f"ns-invoice-{erp_id}-{status}"
    else:
        eid = _uuid(rng)
    obj: dict[str, Any] = {
        "specversion": "1.0",
        "id": eid,
        "source": f"urn:q2c:{system}",
        "type": f"com.q2c.step.{status}",
        "time": _fmt(when),
    }
    if not native:
        obj["correlationid"] = tx.cid
    for name in (
        "order_number",
        "invoice_number",
        "payment_id",
        "opportunity_id",
        "subscription_id",
    ):
        if name in keys:
            obj["subject"] = keys[name]
            break
    obj["datacontenttype"] = "application/json"
    if tx.trace and not native:
        obj["traceparent"] = f"00-{tx.trace}-{rng.getrandbits(64):016x}-01"
    obj["data"] = data
    return obj


def _run(rng: random.Random, m: Master, tx: Tx, steps: list[tuple[str, str]]) -> list[_Line]:
    """Play the transaction's steps and return its events (with delivery times)."""
    ops = [op for _, op in steps]
    plan = script(rng, tx, ops, OUTAGE[1])
    stop, pending = tx.extra.get("stop"), tx.extra.get("pending")
    native_op = "invoice.post" if tx.mode.startswith("erp_native") else None
    out: list[_Line] = []
    t = tx.start

    def emit(
        system: str,
        op: str,
        status: str,
        when: datetime,
        attempt: int,
        code: str | None = None,
        latency: int = 0,
    ) -> None:
        native = op == native_op
        obj = _event(rng, tx, system, op, status, when, attempt, code, native, latency)
        deliver = when + timedelta(seconds=rng.uniform(0.05, 0.9))
        if out:  # one transaction's events arrive in order unless disturbed on purpose
            deliver = max(deliver, out[-1].deliver + timedelta(milliseconds=1))
        out.append(_Line(deliver, 0, obj, tx, native))

    for i, (system, op) in enumerate(steps):
        t += timedelta(seconds=tx.extra["gaps"][i])
        if stop is not None and i > stop:
            if pending and i == stop + 1:
                emit(system, op, "started", t, 1)
            break
        attempts = plan.get(i, [("succeeded", None, 0.0)])
        for n, (status, code, wait) in enumerate(attempts, 1):
            t += timedelta(seconds=wait)
            lat = rng.randint(*_LATENCY.get(system, (20, 400)))
            if code == "SERVICE_UNAVAILABLE" and rng.random() < 0.5:
                lat = 30000  # the gateway timed out
            if i or n > 1:  # the call started after the previous step or attempt ended
                lat = min(lat, int((wait if n > 1 else tx.extra["gaps"][i]) * 900))
            if (op == native_op and tx.mode != "erp_native") or rng.random() < 0.05:
                emit(system, op, "started", t - timedelta(milliseconds=lat), n)
            if status == "succeeded":
                on_success(m, tx, op, t)
            emit(system, op, status, t, n, code, lat)
        if attempts[-1][0] == "failed":
            break
    return out


def _deliver(rng: random.Random, lines: list[_Line], txs: list[Tx], n: int) -> dict[str, int]:
    """Out-of-order delivery, early ERP-native events and duplicates; returns counts."""
    by_tx: dict[str, list[_Line]] = {}
    for line in lines:
        by_tx.setdefault(line.tx.cid, []).append(line)
    for tx in txs:
        if tx.mode == "erp_native_early":
            own = by_tx[tx.cid]
            first_native = min(x.deliver for x in own if x.native)
            for x in own:
                if not x.native:
                    x.deliver = max(x.deliver, first_native) + timedelta(
                        seconds=rng.uniform(60, 600)
                    )
    candidates = [
        tx
        for tx in txs
        if len(by_tx[tx.cid]) >= 3 and tx.mode not in ("erp_native_early", "in_flight")
    ]
    shuffled = rng.sample(candidates, min(len(candidates), max(3, round(n * 0.03))))
    for tx in shuffled:
        own = by_tx[tx.cid]
        own[rng.randrange(len(own) - 1)].deliver += timedelta(seconds=rng.uniform(180, 1500))
        tx.extra["out_of_order"] = True
    dupes = rng.sample(lines, min(len(lines), max(3, round(n * 0.012))))
    for line in dupes:
        copy = _Line(
            line.deliver + timedelta(seconds=rng.uniform(1, 900)), 0, line.obj, line.tx, line.native
        )
        lines.append(copy)
    for seq, line in enumerate(lines):
        line.seq = seq
    lines.sort(key=lambda x: (x.deliver, x.seq))
    return {"out_of_order": len(shuffled), "duplicates": len(dupes)}


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)


def generate(*, out_dir: Path, seed: int = 7, transactions: int = 1500) -> SeedSummary:
    """Write the sample data set into ``out_dir`` (deterministic for seed and count).

    Args:
        out_dir: folder to write into (created if missing; files are overwritten).
        seed: seed of the one random generator everything draws from.
        transactions: how many transactions to generate (every flow and failure
            mode is present from about 60).

    Returns:
        A :class:`SeedSummary`; ``files`` are relative to ``out_dir``.

    Example:
        >>> summary = generate(out_dir=Path("sample_data"), seed=7, transactions=1500)
        >>> summary.files[0]
        'README.md'
    """
    if transactions < 1:
        raise ValueError("transactions must be at least 1")
    rng = random.Random(seed)
    catalog = load_catalog()
    plan = _plan(rng, transactions)
    n_accounts = min(300, max(40, transactions // 5))
    m = build_master(
        rng,
        accounts=n_accounts,
        subscriptions=max(n_accounts + n_accounts // 3, transactions // 4 + 10),
    )
    txs: list[Tx] = []
    used: set[str] = set()
    for mode, flow in plan:
        cid = f"o2c-{m.ids.hex(6)}"
        while cid in used:
            cid = f"o2c-{m.ids.hex(6)}"
        used.add(cid)
        tx = Tx(cid=cid, flow=flow, mode=mode, start=START, account=m.accounts[0])
        tx.outcome = MODES[mode][3] if mode in MODES else "succeeded"
        tx.trace = f"{rng.getrandbits(128):032x}" if rng.random() < 0.3 else None
        _schedule(rng, tx, [s.operation for s in catalog.flows[flow]])
        txs.append(tx)
    txs.sort(key=lambda x: (x.start, x.cid))
    lines: list[_Line] = []
    for tx in txs:
        steps = [(s.system, s.operation) for s in catalog.flows[tx.flow]]
        bind(rng, m, tx)
        lines.extend(_run(rng, m, tx, steps))
        close(m, tx)
    effects = _deliver(rng, lines, txs, transactions)

    out_dir = Path(out_dir)
    objs = [x.obj for x in lines]
    files = {
        "events.jsonl": "".join(dump(o) + "\n" for o in objs),
        "events-quarantine-demo.jsonl": "".join(q + "\n" for q in quarantine_lines(objs)),
    }
    master = m.records()
    demos = add_validation_demo(master)  # after the transactions: the events stay the same
    for system, records in master.items():
        files[f"master/{system}.json"] = dump_records(records) + "\n"
    counts = tally(txs, objs, effects)
    files["README.md"] = render_readme(
        counts,
        seed=seed,
        transactions=transactions,
        start=_fmt(START),
        end=_fmt(END),
        master=master,
        demos=demos,
    )
    for name, text in files.items():
        _write(out_dir / name, text)
    return SeedSummary(events=len(lines), transactions=len(txs), files=sorted(files), counts=counts)
