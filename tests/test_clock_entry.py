"""The clock memo's typed entry: rows written before it read back byte for byte, and
its transitions keep the invariants the ingest hook, the scan and sla_recompute rely on."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection
from hypothesis import given
from hypothesis import strategies as st

from orders.models import Order
from slas.deadlines import DeadlinePlan
from slas.memo import KEYS, ClockEntry, next_deadline
from slas.services.scan import sla_scan

from .sla_helpers import at, send

# Memos exactly as the dict-writing code (before ClockEntry) stored them, captured from
# a run of the scenario in `test_writers_store_the_memos_the_dict_code_stored`.
WRITTEN_BEFORE = {
    "#1": '{"pick": {"s": "2026-06-03T10:00:00+00:00", "hv": false, "k":'
    ' "40d67077400033933217c71b485aaed7", "p": 1, "c": null, "bt": true, "a": 120, "d":'
    ' "2026-06-03T12:00:00+00:00", "w": "2026-06-03T11:36:00+00:00", "m":'
    ' "2026-06-03T14:00:00+00:00", "x": null, "xb": "", "b": "2026-06-03T12:01:00+00:00",'
    ' "lb": true}, "pack": {"s": "2026-06-03T14:00:00+00:00", "hv": false, "k":'
    ' "a1093cefd1950aa5300cc9c20cefb775", "p": 1, "c": null, "bt": true, "a": 180, "d":'
    ' "2026-06-03T17:00:00+00:00", "w": "2026-06-03T16:24:00+00:00", "m": null, "x":'
    ' "2026-06-03T13:30:00+00:00", "xb": "later_stage", "ms": "2026-06-03T14:30:00+00:00"},'
    ' "delivery": {"s": "2026-06-03T13:30:00+00:00", "hv": false, "k":'
    ' "282bf68a5bd84e9ad06f5b645d5e1c4e", "p": 1, "c": null, "bt": false, "a": 10590, "d":'
    ' "2026-06-10T22:00:00+00:00", "w": "2026-06-09T10:42:00+00:00", "m": null, "x": null,'
    ' "xb": ""}}',
    "#2": '{"pick": {"s": "2026-06-03T10:00:00+00:00", "hv": false, "k":'
    ' "40d67077400033933217c71b485aaed7", "p": 1, "c": null, "bt": true, "a": 120, "d":'
    ' "2026-06-03T12:00:00+00:00", "w": "2026-06-03T11:36:00+00:00", "m": null, "x":'
    ' "2026-06-03T10:30:00+00:00", "xb": "cancelled"}}',
    "#3": '{"pick": {"s": "2026-06-03T10:00:00+00:00", "hv": false, "k":'
    ' "40d67077400033933217c71b485aaed7", "p": 1, "c": null, "bt": true, "a": 120, "d":'
    ' "2026-06-03T12:00:00+00:00", "w": "2026-06-03T11:36:00+00:00", "m":'
    ' "2026-06-03T11:00:00+00:00", "x": null, "xb": ""}, "pack": {"s":'
    ' "2026-06-03T11:00:00+00:00", "hv": false, "k": "4cebdb8957f3983b102eb48bd988c8cb",'
    ' "p": 1, "c": null, "bt": true, "a": 180, "d": "2026-06-03T14:00:00+00:00", "w":'
    ' "2026-06-03T13:24:00+00:00", "m": null, "x": null, "xb": ""}}',
}
# As PostgreSQL's jsonb hands a memo back (keys sorted by length), e.g. one the benchmark's
# bulk SQL wrote: no calendar, not stopped.
FROM_JSONB = {
    "a": 120,
    "c": None,
    "d": "2026-06-03T12:00:00+00:00",
    "k": "5f1c0d7e",
    "m": None,
    "p": 7,
    "s": "2026-06-03T10:00:00+00:00",
    "w": "2026-06-03T11:36:00+00:00",
    "x": None,
    "b": "2026-06-03T12:01:00+00:00",
    "bt": False,
    "hv": False,
    "xb": "",
}


@pytest.mark.parametrize("order", sorted(WRITTEN_BEFORE))
def test_a_memo_written_before_the_type_reads_back_and_writes_back_byte_for_byte(order):
    stored = json.loads(WRITTEN_BEFORE[order])
    rewritten = {stage: ClockEntry.from_json(raw).to_json() for stage, raw in stored.items()}
    assert json.dumps(rewritten) == WRITTEN_BEFORE[order]


def test_a_memo_read_from_jsonb_keeps_its_keys_and_values():
    entry = ClockEntry.from_json(FROM_JSONB)
    assert (entry.policy_id, entry.calendar_id, entry.breached_at) == (
        7,
        None,
        at("2026-06-03T12:01:00Z"),
    )
    assert entry.to_json() == FROM_JSONB  # no key added, none lost
    assert set(KEYS.values()) >= FROM_JSONB.keys()


@pytest.mark.django_db
def test_writers_store_the_memos_the_dict_code_stored(api):
    """The ingest hook, the scan and the worker's rows leave each order's memo exactly as
    the code before ClockEntry did (the inputs keys hash the default policy's id, 1)."""
    # 1: breached by the scan, then picked late; pack skipped (shipping stops it).
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="#1")
    assert sla_scan(now=at("2026-06-03T12:01:00Z")).breached == 1
    send(api, "pick_completed", "2026-06-03T14:00:00Z", order="#1")
    send(api, "package_shipped", "2026-06-03T15:30:00+02:00", order="#1")
    # 2: cancelled while picking. 3: picked in time, still packing.
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="#2")
    send(api, "order_cancelled", "2026-06-03T10:30:00Z", order="#2")
    send(api, "order_paid", "2026-06-03T10:00:00Z", order="#3")
    send(api, "pick_completed", "2026-06-03T11:00:00Z", order="#3")
    memos = {o.external_id: o.sla_clocks for o in Order.objects.all()}
    assert memos == {order: json.loads(text) for order, text in WRITTEN_BEFORE.items()}
    if connection.vendor == "sqlite":  # JSON kept as text: the key order is on disk too
        assert {order: json.dumps(memo) for order, memo in memos.items()} == WRITTEN_BEFORE


# --------------------------------------------------------------------- properties

OFFSETS = st.sampled_from([UTC, timezone(timedelta(hours=2)), timezone(timedelta(hours=-5))])
INSTANTS = st.builds(
    lambda when, tz: when.replace(tzinfo=UTC).astimezone(tz),
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1)),
    OFFSETS,
)
MAYBE = st.none() | INSTANTS


@st.composite
def entries(draw: st.DrawFn) -> ClockEntry:
    """Any entry a writer can leave: met, stopped or running, with or without the flags."""
    progress = draw(st.sampled_from(["running", "met", "stopped"]))
    stopped_by = draw(st.sampled_from(["later_stage", "cancelled"]))
    return ClockEntry(
        started_at=draw(INSTANTS),
        high_volume=draw(st.booleans()),
        inputs_key=draw(st.text(max_size=32)),
        policy_id=draw(st.integers(1, 2**31)),
        calendar_id=draw(st.none() | st.integers(1, 2**31)),
        business_time=draw(st.booleans()),
        allowed_minutes=draw(st.integers(1, 10**6)),
        due_at=draw(INSTANTS),
        warn_at=draw(INSTANTS),
        met_at=draw(INSTANTS) if progress == "met" else None,
        stopped_at=draw(INSTANTS) if progress == "stopped" else None,
        stopped_by=stopped_by if progress == "stopped" else "",
        missing_scan_due_at=draw(MAYBE),
        late_breach_recorded=draw(st.booleans()),
        breached_at=draw(MAYBE),
    )


@given(entries())
def test_json_round_trip_is_exact(entry):
    raw = entry.to_json()
    assert ClockEntry.from_json(json.loads(json.dumps(raw))) == entry
    assert ClockEntry.from_json(raw).to_json() == raw
    assert ("b" in raw, "ms" in raw, "lb" in raw) == (
        entry.breached_at is not None,
        entry.missing_scan_due_at is not None,
        entry.late_breach_recorded,
    )
    assert set(raw) <= set(KEYS.values())


@given(entries(), INSTANTS)
def test_meet_completes_the_clock_and_keeps_deadline_and_breaches(entry, when):
    met = entry.meet(when)
    assert (met.met_at, met.stopped_at, met.stopped_by) == (when, None, "")
    assert not met.waiting
    assert (met.due_at, met.breached_at, met.late_breach_recorded) == (
        entry.due_at,
        entry.breached_at,
        entry.late_breach_recorded,
    )
    assert met.meet(when) == met


@given(entries(), INSTANTS, st.sampled_from(["later_stage", "cancelled"]))
def test_stop_ends_the_clock_without_its_own_event(entry, when, by):
    stopped = entry.stop(when, by=by)
    assert (stopped.met_at, stopped.stopped_at, stopped.stopped_by) == (None, when, by)
    assert not stopped.waiting
    assert stopped.stop(when, by=by) == stopped
    # The stage's own event arriving later wins over the stop.
    assert stopped.meet(when).stopped_at is None


@given(entries(), INSTANTS, INSTANTS)
def test_the_first_breach_stands_and_withdraw_takes_it_back(entry, first, second):
    breached = entry.breach(first).breach(second)
    assert breached.breached_at == (entry.breached_at or first)
    assert not breached.waiting
    withdrawn = breached.withdraw()
    assert withdrawn.breached_at is None and withdrawn.withdraw() == withdrawn
    assert withdrawn == entry.withdraw()
    assert withdrawn.waiting == (entry.met_at is None and entry.stopped_at is None)


@given(entries(), INSTANTS, st.integers(1, 10**6), st.integers(1, 2**31))
def test_replan_moves_the_deadline_and_keeps_progress_and_breaches(entry, due, allowed, policy):
    plan = DeadlinePlan(
        stage="pick",
        started_at=entry.started_at,
        business_time=not entry.business_time,
        allowed_minutes=allowed,
        due_at=due,
        warn_at=due - timedelta(minutes=1),
    )
    moved = entry.replan(plan=plan, policy_id=policy, calendar_id=None, inputs_key="new")
    assert (moved.due_at, moved.warn_at, moved.allowed_minutes, moved.policy_id) == (
        due,
        due - timedelta(minutes=1),
        allowed,
        policy,
    )
    assert (moved.business_time, moved.inputs_key, moved.calendar_id) == (
        plan.business_time,
        "new",
        None,
    )
    kept = ("started_at", "high_volume", "met_at", "stopped_at", "stopped_by")
    kept += ("missing_scan_due_at", "late_breach_recorded", "breached_at")
    assert all(getattr(moved, name) == getattr(entry, name) for name in kept)


@given(entries(), INSTANTS, INSTANTS)
def test_the_first_missing_scan_deadline_stands(entry, first, second):
    flagged = entry.flag_missing_scan(first).flag_missing_scan(second)
    assert flagged.missing_scan_due_at == (entry.missing_scan_due_at or first)
    assert flagged.waiting == entry.waiting  # a flag is not a breach


@given(entries())
def test_a_recorded_late_breach_stays_recorded(entry):
    recorded = entry.record_late_breach()
    assert recorded.late_breach_recorded
    assert recorded.record_late_breach() == recorded
    assert recorded.meet(recorded.started_at).late_breach_recorded


@given(st.lists(entries(), min_size=1, max_size=4))
def test_the_order_deadline_is_the_first_waiting_stage(entries_):
    memo = {f"stage{i}": e for i, e in enumerate(entries_)}
    due, warn, stage = next_deadline(memo)
    waiting = [e for e in entries_ if e.met_at is None and e.stopped_at is None]
    waiting = [e for e in waiting if e.breached_at is None]
    if not waiting:
        assert (due, warn, stage) == (None, None, "")
    else:
        assert due == min(e.due_at for e in waiting)
        assert memo[stage].due_at == due and memo[stage].warn_at == warn
