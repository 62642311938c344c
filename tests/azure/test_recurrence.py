"""The materialization recurrence fires exactly when the cron does, or the cron is refused.

A class test over many crons of the portable grammar: each is either refused with a SpecError
naming the key, or turned into a recurrence that (a) uses a pattern only with the Day and Week
frequencies (Microsoft Learn "CLI (v2) schedule YAML schema": "When frequency is day, pattern can
specify hours and minutes. When frequency is week and month, pattern can specify hours, minutes
and weekdays") and (b) fires at exactly the minutes the cron fires at over a whole week, as
Azure's documented recurrence semantics read it: Minute/Hour every `interval` from `start_time`
(a past start time: "the first job will run at the next calculated run time"), Day/Week at the
pattern's hours x minutes (on its week days).
"""

from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from providers.azure.translate import cron_to_recurrence
from providers.cron import parse
from providers.spec import SpecError

WEEK_START = datetime(2024, 1, 1, tzinfo=UTC)  # a Monday
DAYS = ("Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday")
MINUTES = ["*", "0", "7", "*/15", "*/7", "5,35", "5,20", "0-10", "10-59/10", "0,30", "*/30", "3-59/6"]
HOURS = ["*", "3", "*/6", "1-23/2", "2,14", "*/5", "9-17"]
WEEKDAYS = ["*", "1-5", "0,6", "3", "0-7"]
CRONS = [f"{m} {h} * * {d}" for m, h, d in itertools.product(MINUTES, HOURS, WEEKDAYS)]


def cron_fires(text: str) -> set[int]:
    cron = parse(text, "k")
    fires = set()
    for minute in range(7 * 24 * 60):
        t = WEEK_START + timedelta(minutes=minute)
        weekday = (t.weekday() + 1) % 7  # cron: Sunday = 0
        if t.minute in cron.minute.values and t.hour in cron.hour.values and weekday in cron.day_of_week.values:
            fires.add(minute)
    return fires


def recurrence_fires(r) -> set[int]:
    fires = set()
    if r.frequency in ("Minute", "Hour"):
        assert r.start_time is not None and not (r.hours or r.minutes or r.week_days)
        start = datetime.fromisoformat(r.start_time).replace(tzinfo=UTC)
        step = r.interval * (1 if r.frequency == "Minute" else 60)
        for minute in range(7 * 24 * 60):
            t = WEEK_START + timedelta(minutes=minute)
            if int((t - start).total_seconds() // 60) % step == 0:
                fires.add(minute)
        return fires
    assert r.frequency in ("Day", "Week") and r.interval == 1 and r.start_time is None
    for minute in range(7 * 24 * 60):
        t = WEEK_START + timedelta(minutes=minute)
        day = DAYS[(t.weekday() + 1) % 7]
        if t.hour in r.hours and t.minute in r.minutes and (r.frequency == "Day" or day in r.week_days):
            fires.add(minute)
    return fires


@pytest.mark.parametrize("cron", CRONS)
def test_a_recurrence_fires_exactly_when_its_cron_does_or_the_cron_is_refused(cron):
    try:
        recurrence = cron_to_recurrence(cron, "mlops:platform.feature_store.online_sync_schedule")
    except SpecError as err:
        assert err.key == "mlops:platform.feature_store.online_sync_schedule"
        return
    assert recurrence_fires(recurrence) == cron_fires(cron), recurrence


def test_most_common_shapes_are_expressible():
    refused = []
    for cron in ("0 * * * *", "*/15 * * * *", "0 3 * * *", "0 3 * * 1-5", "30 */6 * * *", "5,35 * * * *"):
        try:
            cron_to_recurrence(cron, "k")
        except SpecError:
            refused.append(cron)
    assert refused == []
