"""ParseDate layouts and Go time.Parse rules (spec/parsers.md §6.1), MarshalText."""

from __future__ import annotations

import copy
import pickle
from datetime import datetime, timedelta, timezone

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crowdsec_mp.engine.enrich import dates
from crowdsec_mp.engine.enrich.dates import LAYOUTS, marshal_time, parse_date, parse_layout

YEAR = 2026


def text(value, hint="", year=YEAR):
    parsed = parse_date(value, hint, current_year=year)
    return None if parsed is None else marshal_time(parsed)


# -- the 16 layouts, in the spec's examples ------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        # 1 / 9 RFC3339
        ("2021-03-04T05:06:07Z", "2021-03-04T05:06:07Z"),
        ("2021-03-04T05:06:07.123+02:00", "2021-03-04T05:06:07.123+02:00"),
        ("2021-03-04T05:06:07,5-07:30", "2021-03-04T05:06:07.5-07:30"),
        ("2021-03-04T5:06:07Z", "2021-03-04T05:06:07Z"),  # `15` takes 1 or 2 digits
        # 2 CLF
        ("08/Jun/2020:06:49:01 +0000", "2020-06-08T06:49:01Z"),
        ("08/jun/2020:06:49:01 -0130", "2020-06-08T06:49:01-01:30"),
        ("08/Jun/2020:06:49:01.25 +0200", "2020-06-08T06:49:01.25+02:00"),
        # 3 ANSIC
        ("Thu Mar 4 05:06:07 2021", "2021-03-04T05:06:07Z"),
        ("Thu Mar  4 05:06:07 2021", "2021-03-04T05:06:07Z"),
        ("Mon Mar 4 05:06:07 2021", "2021-03-04T05:06:07Z"),  # weekday is not checked
        # 4 literal europe/paris suffix
        ("04-Mar-2021 05:06:07 europe/paris", "2021-03-04T05:06:07Z"),
        # 5 month first
        ("03/04/2021 05:06:07", "2021-03-04T05:06:07Z"),
        # 6 Go's time.String()
        ("2021-03-04 05:06:07.5 +0100 CET", "2021-03-04T05:06:07.5+01:00"),
        ("2021-03-04 05:06:07 -0800 PST", "2021-03-04T05:06:07-08:00"),
        # 7 syslog, no year
        ("Feb 12 14:10:21", "2026-02-12T14:10:21Z"),
        ("Nov  2 15:40:14", "2026-11-02T15:40:14Z"),
        ("Nov 2 15:40:14", "2026-11-02T15:40:14Z"),
        ("Nov 2 5:40:14", "2026-11-02T05:40:14Z"),
        ("Nov 2 15:40:14.123", "2026-11-02T15:40:14.123Z"),
        # 8 with exactly 6 fraction digits
        ("Thu Mar 04 05:06:07.123456 2021", "2021-03-04T05:06:07.123456Z"),
        # not 6 digits: layout 8 fails, but layout 3 accepts any fraction after seconds
        ("Thu Mar 04 05:06:07.12 2021", "2021-03-04T05:06:07.12Z"),
        # 10-16
        ("2021/03/04", "2021-03-04T00:00:00Z"),
        ("2021/03/04 05:06", "2021-03-04T05:06:00Z"),
        ("2021-03-04", "2021-03-04T00:00:00Z"),
        ("2021-03-04 05:06", "2021-03-04T05:06:00Z"),
        ("2021/03/04 05:06:07", "2021-03-04T05:06:07Z"),
        ("2021-03-04 05:06:07", "2021-03-04T05:06:07Z"),
        ("2021-03-04 05:06:07,123", "2021-03-04T05:06:07.123Z"),
        ("2021-03-04T05:06:07.123", "2021-03-04T05:06:07.123Z"),
    ],
)
def test_layouts(value, expected):
    assert text(value) == expected


def test_layout_list_is_the_spec_list():
    assert len(LAYOUTS) == 16
    assert LAYOUTS[0] == LAYOUTS[8] == "2006-01-02T15:04:05Z07:00"
    assert LAYOUTS[6] == "Jan  2 15:04:05"


# -- Go parse rules --------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        "Feb 30 01:02:03",  # day must exist
        "Apr 31 01:02:03",
        "2021-02-29",  # 2021 is not a leap year
        "Feb 12 24:00:00",  # hour >= 24
        "Feb 12 14:60:00",  # minute >= 60
        "Feb 12 14:10:60",  # second >= 60
        "13/04/2021 05:06:07",  # month 13
        "00/04/2021 05:06:07",  # month 0
        "2021-03-04t05:06:07Z",  # T is case-sensitive
        "2021-03-04T05:06:07Z trailing",  # the whole value must be consumed
        "Feb 12 14:10",  # missing seconds
        "Feb12 14:10:21",  # a layout space needs at least one space
        "21-03-04",  # 2006 needs 4 digits
        "2021-3-04",  # 01 needs 2 digits
        "",
        "garbage",
        "0",  # epoch must be > 0
        "-5",
        "+",
        "99999999999999999999",  # not an int64
    ],
)
def test_values_that_do_not_parse(value):
    assert text(value) is None


def test_month_and_weekday_names_are_case_insensitive():
    assert text("feb 12 14:10:21") == "2026-02-12T14:10:21Z"
    assert text("FEB 12 14:10:21") == "2026-02-12T14:10:21Z"
    assert text("tHU mAR 4 05:06:07 2021") == "2021-03-04T05:06:07Z"


def test_year_zero_feb_29_rolls_to_march_first_in_non_leap_year():
    assert text("Feb 29 01:02:03", year=2025) == "2025-03-01T01:02:03Z"
    assert text("Feb 29 01:02:03", year=2024) == "2024-02-29T01:02:03Z"


def test_current_year_is_injected():
    assert text("Jan  1 00:00:00", year=1999) == "1999-01-01T00:00:00Z"


def test_fraction_is_truncated_to_nanoseconds():
    assert text("2021-03-04T05:06:07.1234567891234Z") == "2021-03-04T05:06:07.123456789Z"
    assert text("2021-03-04 05:06:07.000") == "2021-03-04T05:06:07Z"


def test_unix_epoch_fallback():
    assert text("1614834367") == "2021-03-04T05:06:07Z"
    assert text("1614834367.999") == "2021-03-04T05:06:07Z"  # fraction discarded
    assert parse_date("1614834367", current_year=YEAR).tzinfo == timezone.utc
    assert text("1614834367abc") is None
    assert text(" 1614834367") is None
    assert text("1_614_834_367") is None  # Go's ParseInt rejects underscores


def test_epoch_beyond_python_range_is_rejected_not_crashing():
    assert text(str(2**62)) is None


# -- StrTimeFormat hints (Go layouts) --------------------------------------------------------
@pytest.mark.parametrize(
    "hint, value, expected",
    [
        ("02.01.2006 15:04", "04.03.2021 05:06", "2021-03-04T05:06:00Z"),
        ("Jan _2 15:04:05", "Mar  4 05:06:07", "2026-03-04T05:06:07Z"),
        ("Mon, 02 Jan 2006 15:04:05 -0700", "Thu, 04 Mar 2021 05:06:07 +0100", "2021-03-04T05:06:07+01:00"),
        ("Monday, 02-Jan-06 15:04:05 MST", "Thursday, 04-Mar-21 05:06:07 UTC", "2021-03-04T05:06:07Z"),
        ("January 2, 2006 3:04:05 PM", "March 4, 2021 5:06:07 PM", "2021-03-04T17:06:07Z"),
        ("January 2, 2006 3:04:05 pm", "March 4, 2021 12:06:07 am", "2021-03-04T00:06:07Z"),
        ("2006-01-02 15:04:05 MST", "2021-03-04 05:06:07 CEST", "2021-03-04T05:06:07Z"),
        ("2006-01-02 15:04:05 MST", "2021-03-04 05:06:07 GMT+2", "2021-03-04T05:06:07+02:00"),
        ("2006-01-02T15:04:05Z0700", "2021-03-04T05:06:07+0530", "2021-03-04T05:06:07+05:30"),
        ("2006-01-02T15:04:05-07", "2021-03-04T05:06:07-03", "2021-03-04T05:06:07-03:00"),
        ("2006-01-02 15:04:05.000", "2021-03-04 05:06:07.120", "2021-03-04T05:06:07.12Z"),
        ("06-1-2 3:4:5", "21-3-4 5:6:7", "2021-03-04T05:06:07Z"),
        ("2006-01-02 15:04:05.999", "2021-03-04 05:06:07", "2021-03-04T05:06:07Z"),
    ],
)
def test_layout_hint(hint, value, expected):
    assert text(value, hint) == expected


def test_failing_hint_falls_back_to_the_layout_list():
    assert text("Feb 12 14:10:21", "2006-01-02") == "2026-02-12T14:10:21Z"


def test_hint_only_zone_name_gives_utc():
    parsed = parse_date("2021-03-04 05:06:07 XYZ", "2006-01-02 15:04:05 MST", current_year=YEAR)
    assert parsed.utcoffset() == timedelta(0)


def test_bad_zone_name_fails():
    assert text("2021-03-04 05:06:07 Xy", "2006-01-02 15:04:05 MST") is None


def test_layout_literal_digits_are_not_elements():
    layout = parse_layout("2006x07")  # "07" is not a layout element: literal "0" then "7"
    assert layout.parse("2021x07", YEAR) is not None
    assert layout.parse("2021x08", YEAR) is None
    # ...whereas "-07" is the hour-offset zone element.
    assert marshal_time(parse_layout("2006-07").parse("2021-08", YEAR)) == "2021-01-01T00:00:00-08:00"


def test_exact_fraction_layout_needs_its_digit_count():
    layout = parse_layout("15:04:05.000000")
    assert layout.parse("05:06:07.123456", YEAR) is not None
    assert layout.parse("05:06:07.12", YEAR) is None
    assert layout.parse("05:06:07.1234567", YEAR) is None


# -- fast paths agree with the generic parser ------------------------------------------------
def generic(value, year=YEAR):
    for layout in LAYOUTS:
        parsed = parse_layout(layout).parse(value, year)
        if parsed is not None:
            return parsed
    return None


months = st.sampled_from(["Jan", "feb", "MAR", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec", "Foo"])


@settings(max_examples=300, deadline=None)
@given(
    month=months,
    day=st.integers(0, 32),
    hour=st.integers(0, 25),
    minute=st.integers(0, 61),
    second=st.integers(0, 61),
    spaces=st.sampled_from([" ", "  ", "   "]),
    pad=st.booleans(),
)
def test_syslog_fast_path_matches_generic(month, day, hour, minute, second, spaces, pad):
    value = f"{month}{spaces}{day:02d}" if pad else f"{month}{spaces}{day}"
    value += f" {hour}:{minute:02d}:{second:02d}"
    assert dates._fast_path(value, YEAR) in (None, generic(value))
    if dates._fast_path(value, YEAR) is None:
        # When the fast path declines, parse_date still gives the generic answer.
        assert parse_date(value, current_year=YEAR) == (generic(value) or dates._parse_epoch(value))


@settings(max_examples=300, deadline=None)
@given(
    year=st.integers(0, 9999),
    month=st.integers(0, 13),
    day=st.integers(0, 32),
    hour=st.integers(0, 25),
    fraction=st.sampled_from(["", ".5", ",123", ".1234567891"]),
    zone=st.sampled_from(["Z", "+02:00", "-11:30", "+25:00", "z", ""]),
)
def test_rfc3339_fast_path_matches_generic(year, month, day, hour, fraction, zone):
    value = f"{year:04d}-{month:02d}-{day:02d}T{hour:02d}:04:05{fraction}{zone}"
    fast = dates._fast_path(value, YEAR)
    assert fast is None or (fast == generic(value) and marshal_time(fast) == marshal_time(generic(value)))


@settings(max_examples=200, deadline=None)
@given(
    day=st.integers(0, 32),
    month=months,
    year=st.integers(1000, 9999),
    sign=st.sampled_from(["+", "-"]),
    offset=st.sampled_from(["0000", "0130", "2400", "2500", "1261"]),
)
def test_clf_fast_path_matches_generic(day, month, year, sign, offset):
    value = f"{day:02d}/{month}/{year}:06:49:01 {sign}{offset}"
    fast = dates._fast_path(value, YEAR)
    assert fast is None or (fast == generic(value) and marshal_time(fast) == marshal_time(generic(value)))


# -- MarshalText --------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value, expected",
    [
        (datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone.utc), "2021-03-04T05:06:07Z"),
        (datetime(2021, 3, 4, 5, 6, 7, 120000, tzinfo=timezone.utc), "2021-03-04T05:06:07.12Z"),
        (datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=-7))), "2021-03-04T05:06:07-07:00"),
        (datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(hours=5, minutes=30))), "2021-03-04T05:06:07+05:30"),
        (datetime(2021, 3, 4, 5, 6, 7, tzinfo=timezone(timedelta(0))), "2021-03-04T05:06:07Z"),
    ],
)
def test_marshal_time(value, expected):
    assert marshal_time(value) == expected


def test_nanoseconds_survive_copy_and_pickle_but_not_arithmetic_errors():
    parsed = parse_date("2021-03-04T05:06:07.123456789Z", current_year=YEAR)
    assert marshal_time(parsed) == "2021-03-04T05:06:07.123456789Z"
    assert marshal_time(copy.deepcopy(parsed)) == "2021-03-04T05:06:07.123456789Z"
    assert marshal_time(pickle.loads(pickle.dumps(parsed))) == "2021-03-04T05:06:07.123456789Z"
    # Arithmetic keeps microsecond precision; never a stale nanosecond value.
    moved = parsed + timedelta(microseconds=1)
    assert marshal_time(moved) == "2021-03-04T05:06:07.123457Z"
    assert marshal_time(parsed.replace(microsecond=0)) == "2021-03-04T05:06:07Z"


# -- the shape pre-check never rejects what the parser accepts ------------------------------------
SAMPLE_VALUES = [
    "2021-03-04T05:06:07Z", "2021-03-04T05:06:07.123+02:00", "08/Jun/2020:06:49:01 +0000",
    "Thu Mar  4 05:06:07 2021", "04-Mar-2021 05:06:07 europe/paris", "03/04/2021 05:06:07",
    "2021-03-04 05:06:07.5 +0100 CET", "Feb 12 14:10:21", "Thu Mar 04 05:06:07.123456 2021",
    "2021/03/04", "2021/03/04 05:06", "2021-03-04 05:06:07,123", "2021-03-04T05:06:07.123",
    "Thu, 04 Mar 2021 05:06:07 +0100", "Thursday, 04-Mar-21 05:06:07 UTC", "March 4, 2021 5:06:07 PM",
    "2021-03-04 05:06:07 GMT+2", "2021-03-04T05:06:07-03", "21-3-4 5:6:7", "Mar  4 05:06:07",
]
HINTS = ["02.01.2006 15:04", "Jan _2 15:04:05", "Mon, 02 Jan 2006 15:04:05 -0700",
         "Monday, 02-Jan-06 15:04:05 MST", "January 2, 2006 3:04:05 PM", "2006-01-02 15:04:05 MST",
         "2006-01-02T15:04:05-07", "06-1-2 3:4:5", "2006-01-02 15:04:05.000", "Jan _2 15:04:05.999"]


@settings(max_examples=400, deadline=None)
@given(
    sample=st.sampled_from(SAMPLE_VALUES),
    position=st.integers(0, 40),
    edit=st.sampled_from(["drop", "space", "double", "digit", "none"]),
)
def test_shape_check_is_only_a_speed_up(sample, position, edit):
    position = min(position, len(sample))
    if edit == "drop":
        value = sample[:position] + sample[position + 1:]
    elif edit == "space":
        value = sample[:position] + " " + sample[position:]
    elif edit == "double":
        value = sample[:position] + sample[position:position + 1] * 2 + sample[position + 1:]
    elif edit == "digit":
        value = sample[:position] + "7" + sample[position:]
    else:
        value = sample
    for layout in (*LAYOUTS, *HINTS):
        compiled = parse_layout(layout)
        if compiled.parse_exactly(value, YEAR) is not None:
            assert compiled.shape.fullmatch(value), (layout, value)


@settings(max_examples=300, deadline=None)
@given(
    year=st.integers(0, 9999),
    month=st.integers(0, 13),
    day=st.integers(0, 32),
    hour=st.integers(0, 25),
    spaces=st.sampled_from([" ", "  "]),
    fraction=st.sampled_from(["", ".5", ",123", ".1234567891", "."]),
)
def test_sql_datetime_fast_path_matches_generic(year, month, day, hour, spaces, fraction):
    value = f"{year:04d}-{month:02d}-{day:02d}{spaces}{hour}:04:05{fraction}"
    fast = dates._fast_path(value, YEAR)
    assert fast is None or (fast == generic(value) and marshal_time(fast) == marshal_time(generic(value)))


# -- fast paths added for speed: each equals the generic code -----------------------------------
_offsets = st.one_of(
    st.integers(-86399, 86399).map(lambda s: timezone(timedelta(seconds=s))),
    st.integers(-1439, 1439).map(lambda m: timezone(timedelta(minutes=m))),
    st.just(timezone.utc),
    st.none(),
)


@settings(max_examples=400, deadline=None)
@given(value=st.datetimes(timezones=_offsets), whole_seconds=st.booleans())
def test_marshal_time_fast_path_equals_generic(value, whole_seconds):
    if whole_seconds:
        value = value.replace(microsecond=0)
    assert marshal_time(value) == dates._marshal_time_generic(value)


@settings(max_examples=200, deadline=None)
@given(value=st.datetimes(timezones=_offsets), nanosecond=st.integers(0, 999_999_999))
def test_marshal_time_of_go_datetimes_keeps_nanoseconds(value, nanosecond):
    go_value = dates._go_datetime(value, nanosecond)
    assert marshal_time(go_value) == dates._marshal_time_generic(go_value)


@settings(max_examples=300, deadline=None)
@given(
    first=st.text("0123456789", min_size=2, max_size=2),
    rest=st.text("0123456789/:-. +TZJanMar", max_size=24),
)
def test_slash_at_index_two_is_parsed_as_the_generic_layouts_do(first, rest):
    # CLF is tried first when text[2] == "/"; RFC3339 / layout 15 cannot fit such text.
    value = first + "/" + rest
    expected = generic(value) or dates._parse_epoch(value)
    assert dates._parse_date_uncached(value, "", YEAR) == expected
    assert dates._fast_path(value, YEAR) in (None, expected)


@pytest.mark.parametrize("value", ["01/02/2006 15:04:05", "2006/01/02", "08/Jun/2020:06:49:01 +0000",
                                   "2006-01-02 15:04:05", "2006-01-02T15:04:05Z", "12/31/2021 23:59:59"])
def test_fast_dispatch_on_slash_keeps_the_layout_order(value):
    assert dates._parse_date_uncached(value, "", YEAR) == generic(value)
