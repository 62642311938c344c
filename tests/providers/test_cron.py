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


# --- mutation triage (issue 16): what the survivors of scripts/mutation.py --only cron showed --


@pytest.mark.parametrize(
    ("text", "unix"),
    [
        ("*/20 * * * *", "*/20 * * * *"),  # three values are a progression
        ("*/2 * * * *", "*/2 * * * *"),  # so is a step of 2
        ("0 */2 * * *", "0 */2 * * *"),  # one that stops short of the field's end (22 of 0-23)
        ("0 3 * * */2", "0 3 * * */2"),
        ("0,30 * * * *", "0,30 * * * *"),  # two values are a list
        ("*/1 * * * *", "* * * * *"),
        ("0 3 * * 5-5", "0 3 * * 5"),
        ("0 3 * * 1-6", "0 3 * * 1-6"),
    ],
)
def test_unix_form_of_steps_and_short_ranges(text, unix):
    assert parse(text, KEY).unix() == unix


@pytest.mark.parametrize(
    ("text", "field", "progression"),
    [
        ("5-59/15 * * * *", "minute", (5, 15)),  # start, step: not start + next value
        ("1-59/2 * * * *", "minute", (1, 2)),  # runs to the field's last value, 59
        ("0 */2 * * *", "hour", (0, 2)),
        ("*/20 * * * *", "minute", (0, 20)),
        ("0 3 * * 1-6", "day_of_week", None),  # consecutive values are a range, not a step of 1
        ("0,30 * * * *", "minute", None),  # two values
        ("0-20/10 * * * *", "minute", None),  # stops before the field's end
    ],
)
def test_progression_is_start_and_step_of_a_run_to_the_end(text, field, progression):
    # What AWS renders as `start/step` (providers/aws/translate.py).
    assert getattr(parse(text, KEY), field).progression() == progression


def test_fields_keep_their_name_and_text_and_the_cron_its_normalised_text():
    cron = parse("*/15  3 * *   mon-fri", KEY)
    assert cron.text == "*/15 3 * * mon-fri"
    assert [(f.name, f.text) for f in cron.fields] == [
        ("minute", "*/15"),
        ("hour", "3"),
        ("day of month", "*"),
        ("month", "*"),
        ("day of week", "mon-fri"),
    ]


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        # every refusal quotes the whole expression (normalised), whichever part of an item is bad
        ("0 3 * * FOO", "'0 3 * * FOO': day of week 'FOO' is not a value (0-7 or SUN-SAT)"),
        ("0 3 * * FOO-FRI", "'0 3 * * FOO-FRI': day of week 'FOO' is not a value (0-7 or SUN-SAT)"),
        ("0 3 * * MON-FOO", "'0 3 * * MON-FOO': day of week 'FOO' is not a value (0-7 or SUN-SAT)"),
        ("0 0 1 FOO *", "'0 0 1 FOO *': month 'FOO' is not a value (1-12 or JAN-DEC)"),
        ("x * * * *", "'x * * * *': minute 'x' is not a value (0-59);"),
        ("0  3 * * 1-9", "'0 3 * * 1-9': day of week 9 is out of range 0-7"),
        ("0 3 * * 9-10", "'0 3 * * 9-10': day of week 9 is out of range 0-7"),
        (
            "0 3 1 * 1",
            "'0 3 1 * 1' restricts both the day of month and the day of week (AWS refuses it, unix cron "
            "reads it as either); use '*' in one of them",
        ),
    ],
)
def test_refusals_quote_the_expression_and_what_is_allowed(text, rule):
    with pytest.raises(SpecError) as info:
        parse(text, KEY)
    assert info.value.key == KEY
    assert info.value.rule.startswith(rule)


@pytest.mark.parametrize("value", [None, 5, ["0 3 * * *"]])
def test_not_a_string_names_the_key(value):
    with pytest.raises(SpecError) as info:
        parse(value, KEY)
    assert info.value.key == KEY
