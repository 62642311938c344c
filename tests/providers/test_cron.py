"""The portable cron grammar (providers/cron.py): what it accepts, the values it reads, what it refuses."""

from __future__ import annotations

import pytest
from croniter import croniter

from providers.cron import parse
from providers.spec import SpecError

KEY = "mlops:platform.pipeline.schedule"


@pytest.mark.parametrize(
    ("text", "field", "values"),
    [
        ("0 3 * * 0-7", "day_of_week", {0, 1, 2, 3, 4, 5, 6}),
        ("0 3 * * 7", "day_of_week", {0}),
        ("0 3 * * 1-fri", "day_of_week", {1, 2, 3, 4, 5}),
        ("0 3 * * MON-FRI", "day_of_week", {1, 2, 3, 4, 5}),
        ("0 3 * * */2", "day_of_week", {0, 2, 4, 6}),
        ("0 3 * * 5-7", "day_of_week", {5, 6, 0}),
        ("*/20 * * * *", "minute", {0, 20, 40}),
        ("5-59/15 * * * *", "minute", {5, 20, 35, 50}),
        ("*/5,7 * * * *", "minute", {0, 5, 7, 10, 15, 20, 25, 30, 35, 40, 45, 50, 55}),
        ("0 0 1 jan,Jul *", "month", {1, 7}),
        ("0 0 29 2 *", "day_of_month", {29}),
    ],
)
def test_values_read_from_the_text(text, field, values):
    assert getattr(parse(text, KEY), field).values == values


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("0 3 * * 0-7", "0 3 * * *"),
        ("*/15  *  * * *", "*/15 * * * *"),
        ("0 9 * * mon-FRI", "0 9 * * 1-5"),
        ("0 3 * * 5-7", "0 3 * * 0,5-6"),
        ("0 0 1 JAN-MAR *", "0 0 1 1-3 *"),
    ],
)
def test_unix_form(text, unix):
    assert parse(text, KEY).unix() == unix


@pytest.mark.parametrize(
    "text",
    ["0 3 * * 0-7", "*/15 * * * *", "0 9 * * 1-5", "0 3 * * 5-7", "5-59/15 2-20/3 * 1-11/2 *", "0 0 1,15 * *"],
)
def test_unix_form_fires_when_croniter_says_the_text_does(text):
    # An independent reader of the same text: croniter, over two weeks of minutes.
    from datetime import UTC, datetime

    original = croniter(text.replace("0-7", "0-6"), datetime(2025, 1, 1, tzinfo=UTC))
    rendered = croniter(parse(text, KEY).unix(), datetime(2025, 1, 1, tzinfo=UTC))
    assert [original.get_next(datetime) for _ in range(200)] == [rendered.get_next(datetime) for _ in range(200)]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("0 3 * * 5#3", "dialect extension"),
        ("0 3 * * 5L", "dialect extension"),
        ("0 3 L * *", "dialect extension"),
        ("0 3 15W * *", "dialect extension"),
        ("0 3 ? * 1", "dialect extension"),
        ("0 3 31 2 *", "never fires"),
        ("0 3 30,31 2 *", "never fires"),
        ("0 3 31 4,6,9,11 *", "never fires"),
        ("0 3 1 * 1", "both the day of month and the day of week"),
        ("61 * * * *", "minute 61 is out of range 0-59"),
        ("0 24 * * *", "hour 24 is out of range 0-23"),
        ("0 0 0 * *", "day of month 0 is out of range 1-31"),
        ("0 0 * 13 *", "month 13 is out of range 1-12"),
        ("0 0 * * 8", "day of week 8 is out of range 0-7"),
        ("5/15 * * * *", "a step applies to '*' or a range"),
        ("*/0 * * * *", "must be a positive number"),
        ("0 3 * * 6-1", "runs backwards"),
        ("0 3 * * FOO", "is not a value"),
        (",1 * * * *", "empty item"),
        ("0 3 * *", "five-field cron"),
        ("0 3 * * * *", "five-field cron"),
        ("@daily", "five-field cron"),
    ],
)
def test_refused_with_the_key_and_the_rule(text, rule):
    with pytest.raises(SpecError) as info:
        parse(text, KEY)
    assert info.value.key == KEY
    assert rule in info.value.rule


@pytest.mark.parametrize("value", [None, 5, ["0 3 * * *"]])
def test_not_a_string(value):
    with pytest.raises(SpecError, match="five-field cron"):
        parse(value, KEY)
