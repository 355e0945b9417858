"""Dates and times as the model writes them, read with what the page shows about the field."""

from __future__ import annotations

import pytest

from workers.page.date_text import DateTextError, Hints, field_pattern, in_page_format, native_value

US_BROWSER = Hints(shown_order="MDY")
BRITISH_PAGE_US_BROWSER = Hints(shown_order="MDY", page_order="DMY")
FRENCH = [["janvier", "janv."], ["février", "févr."], ["mars", "mars"], ["avril", "avr."], ["mai", "mai"],
          ["juin", "juin"], ["juillet", "juil."], ["août", "août"], ["septembre", "sept."],
          ["octobre", "oct."], ["novembre", "nov."], ["décembre", "déc."]]


@pytest.mark.parametrize(
    ("kind", "text", "hints", "value"),
    [
        ("date", "2026-12-20", Hints(), "2026-12-20"),
        ("date", "2026/12/20", Hints(), "2026-12-20"),
        ("date", "12/20/2026", Hints(), "2026-12-20"),  # 20 cannot be a month
        ("date", "20/12/2026", Hints(), "2026-12-20"),
        ("date", "20.12.2026", Hints(), "2026-12-20"),
        ("date", "03.04.2026", Hints(), "2026-04-03"),  # dots: day first
        ("date", "03/04/2026", US_BROWSER, "2026-03-04"),
        ("date", "03/04/2026", Hints(order="DMY", shown_order="MDY"), "2026-04-03"),  # the label wins
        ("date", "December 20, 2026", Hints(), "2026-12-20"),
        ("date", "Sun, 20th of Dec 2026", Hints(), "2026-12-20"),
        ("date", "20 décembre 2026", Hints(months=FRENCH), "2026-12-20"),
        ("date", "20 Décembre 2026", Hints(months=FRENCH), "2026-12-20"),
        ("date", "1/2/85", US_BROWSER, "1985-01-02"),
        ("time", "3:45 PM", Hints(), "15:45"),
        ("time", "12:05 am", Hints(), "00:05"),
        ("time", "15h45", Hints(), "15:45"),
        ("time", "9pm", Hints(), "21:00"),
        ("time", "15:45:30", Hints(), "15:45:30"),
        ("time", "noon", Hints(), "12:00"),
        ("datetime-local", "2026-12-20T15:45", Hints(), "2026-12-20T15:45"),
        ("datetime-local", "2026-12-20 15:45", Hints(), "2026-12-20T15:45"),
        ("datetime-local", "12/20/2026 3:45 pm", Hints(), "2026-12-20T15:45"),
        ("datetime-local", "December 20, 2026 at 15:45", Hints(), "2026-12-20T15:45"),
        ("datetime-local", "3:45 PM, Dec 20 2026", Hints(), "2026-12-20T15:45"),
        ("month", "December 2026", Hints(), "2026-12"),
        ("month", "12/2026", Hints(), "2026-12"),
        ("month", "2026-12", Hints(), "2026-12"),
        ("month", "2026-12-20", Hints(), "2026-12"),
        ("week", "2026-W51", Hints(), "2026-W51"),
        ("week", "week 53, 2026", Hints(), "2026-W53"),
        ("week", "2026-12-20", Hints(), "2026-W51"),
        ("week", "2027-01-01", Hints(), "2026-W53"),  # ISO weeks: 1 January 2027 is in 2026's last week
        ("color", "#ABC", Hints(), "#aabbcc"),
        ("color", "rgb(255, 0, 10)", Hints(), "#ff000a"),
        ("range", " 42 ", Hints(), "42"),
    ],
)
def test_values_in_the_formats_people_write(kind: str, text: str, hints: Hints, value: str) -> None:
    assert native_value(kind, text, hints).value == value


def test_how_a_text_was_read_is_said_when_the_page_decided_it() -> None:
    shown = native_value("date", "03/04/2026", US_BROWSER)
    assert shown.how == "read as MM/DD/YYYY, the order the field shows"
    label = field_pattern(["Departure (DD/MM/YYYY)"])
    assert native_value("date", "03/04/2026", label).how == "read as DD/MM/YYYY, the field's format"
    assert native_value("date", "2026-12-20", US_BROWSER).how == ""


@pytest.mark.parametrize(
    ("kind", "text", "hints", "says"),
    [
        ("date", "03/04/2026", Hints(), "is ambiguous (nothing on the page says which comes first)"),
        ("date", "03/04/2026", BRITISH_PAGE_US_BROWSER, "the browser shows MM/DD/YYYY but the page's"),
        ("date", "2026-02-30", Hints(), "no day 30 in month 2 of 2026"),
        ("date", "13/13/2026", Hints(), "is not a date that can be read"),
        ("date", "tomorrow", Hints(), "write it as YYYY-MM-DD"),
        ("date", "20 Smarch 2026", Hints(), "is not a date that can be read"),
        ("date", "", Hints(), "no date given"),
        ("time", "25:00", Hints(), "is not a time"),
        ("time", "13pm", Hints(), "hour 13 with am/pm"),
        ("time", "15", Hints(), "HH:MM"),
        ("month", "Smarch 2026", Hints(), "YYYY-MM"),
        ("week", "2026-W54", Hints(), "2026 has weeks 1 to 53"),
        ("color", "red", Hints(), "#rrggbb"),
        ("range", "lots", Hints(), "is not a number"),
    ],
)
def test_what_cannot_be_read_says_how_to_write_it(kind: str, text: str, hints: Hints, says: str) -> None:
    with pytest.raises(DateTextError) as info:
        native_value(kind, text, hints)
    assert says in str(info.value)


def test_ambiguous_dates_give_both_readings() -> None:
    with pytest.raises(DateTextError) as info:
        native_value("date", "04/05/2027", BRITISH_PAGE_US_BROWSER)
    assert "4 May or April 5? write it as YYYY-MM-DD (2027-05-04 or 2027-04-05)" in str(info.value)


@pytest.mark.parametrize(
    ("texts", "pattern", "order"),
    [
        (["Pick a date"], None, None),
        (["mm/dd/yyyy"], "MM/DD/YYYY", "MDY"),
        (["Date of birth (DD.MM.YYYY)"], "DD.MM.YYYY", "DMY"),
        (["YYYY-MM-DD"], "YYYY-MM-DD", "YMD"),
        (["jj/mm/aaaa"], "DD/MM/YYYY", "DMY"),  # French
        (["TT.MM.JJJJ"], "DD.MM.YYYY", "DMY"),  # German
        (["dd MMM yyyy"], "DD MMM YYYY", "DMY"),
        (["e.g. 31/12/2026"], "DD/MM/YYYY", "DMY"),  # an example whose order is clear
        (["e.g. 01/02/2026"], None, None),  # ... and one whose order is not
        (["a m y"], None, None),
        (["Call 555-12-1234"], None, None),
    ],
)
def test_the_format_a_field_shows(texts: list[str], pattern: str | None, order: str | None) -> None:
    hints = field_pattern(texts)
    assert (str(hints.pattern) if hints.pattern else None, hints.order) == (pattern, order)


def test_a_date_is_rewritten_in_the_fields_format_only_when_written_another_way() -> None:
    us = field_pattern(["mm/dd/yyyy"])
    assert in_page_format("2027-11-18", us) is not None
    assert in_page_format("2027-11-18", us).value == "11/18/2027"  # type: ignore[union-attr]
    assert in_page_format("18 Nov 2027", us).value == "11/18/2027"  # type: ignore[union-attr]
    assert in_page_format("11/18/2027", us) is None  # already in the field's format
    assert in_page_format("03/04/2027", us) is None  # in its shape: taken as the field reads it
    assert in_page_format("Tue 13-17", us) is None  # not a date: left alone
    french = field_pattern(["jj/mm/aaaa"])
    assert in_page_format("03/14/2027", french).value == "14/03/2027"  # type: ignore[union-attr]
    named = Hints(pattern=field_pattern(["dd MMM yyyy"]).pattern, order="DMY")
    assert in_page_format("2027-03-14", named).value == "14 Mar 2027"  # type: ignore[union-attr]
    assert in_page_format("2027-03-14", Hints()) is None  # no pattern shown: typed as written
