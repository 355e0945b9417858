"""Dates and times as the model writes them, in the format a field takes.

Pure (no browser): ``input`` reads the model's text (``12/20/2026``, ``20.12.2026``,
``December 20, 2026``, ``3:45 pm``...) with what the page shows about the field (a format
hint such as ``DD/MM/YYYY`` in its placeholder or label, an example date, the order the
browser shows native dates in, the page language's month names) and writes it in the format
the field takes: ISO forms for native ``date``/``time``/``datetime-local``/``month``/``week``
inputs, the page's own pattern for a text field that shows one. A value that cannot be read,
or whose day and month could be either way with nothing to tell them apart, is a
:class:`DateTextError` whose message says how to write it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

__all__ = ["DateTextError", "Hints", "Reading", "field_pattern", "in_page_format", "native_value"]


class DateTextError(ValueError):
    """The text is not a value of the field's kind, or is ambiguous; the message says why."""


@dataclass(frozen=True)
class Pattern:
    """A date format a page shows, as tokens: ``("mm", "/", "dd", "/", "yyyy")``."""

    parts: tuple[str, ...]

    @property
    def order(self) -> str:
        """``MDY``, ``DMY`` or ``YMD``: the order of the day, month and year tokens."""
        return "".join(_KIND[p] for p in self.parts if p in _KIND)

    def __str__(self) -> str:
        return "".join(p.upper() if p in _KIND else p for p in self.parts)


@dataclass(frozen=True)
class Hints:
    """What the page shows about a field's format."""

    pattern: Pattern | None = None  # an explicit format near the field (placeholder, label, help text)
    order: str | None = None  # MDY / DMY / YMD, from that pattern or an unambiguous example date
    shown_order: str | None = None  # the order the browser shows a native date field in
    page_order: str | None = None  # the order the page's language writes dates in
    months: Sequence[Sequence[str]] = ()  # the page language's month names, 12 lists


@dataclass(frozen=True)
class Reading:
    """The value in the field's format, and how the text was read when that is worth saying."""

    value: str
    how: str = ""


_KIND = {"d": "D", "dd": "D", "m": "M", "mm": "M", "mmm": "M", "mmmm": "M", "yy": "Y", "yyyy": "Y"}
_ORDER_NAMES = {"MDY": "MM/DD/YYYY", "DMY": "DD/MM/YYYY", "YMD": "YYYY-MM-DD"}
_EN_MONTHS = (
    ("january", "jan"), ("february", "feb"), ("march", "mar"), ("april", "apr"), ("may",),
    ("june", "jun"), ("july", "jul"), ("august", "aug"), ("september", "sep", "sept"),
    ("october", "oct"), ("november", "nov"), ("december", "dec"),
)
_EN_SHORT = tuple(names[-1] if len(names[-1]) == 3 else names[0][:3] for names in _EN_MONTHS)
_WEEKDAY = re.compile(r"\b(mon|tues?|wed(nes)?|thu(rs)?|fri|sat(ur)?|sun)(day)?\b\.?,?")
_ORDINAL = re.compile(r"\b(\d{1,2})(st|nd|rd|th)\b")
_FILLER = re.compile(r"\b(of|the|on|at)\b")
_NUMERIC = re.compile(r"^(\d{1,4})([./\- ])(\d{1,2})\2(\d{1,4})$")
_ISO_DATETIME = re.compile(r"^(\d{4}-\d{2}-\d{2})[t ](\d{1,2}:\d{2}(?::\d{2}(?:\.\d+)?)?)z?$")
_TIME = re.compile(
    r"^(\d{1,2})(?:[:.h](\d{2}))?(?:[:.](\d{2}))?\s*(?:([ap])\.?\s*m?\.?)?$"
)
_CLOCK = r"(\d{1,2}(?:[:.]\d{2}){1,2}\s*(?:[ap]\.?\s*m?\.?)?|\d{1,2}\s*[ap]\.?\s*m\.?)"
_TIME_AT_END = re.compile(rf"(?:^|[\s,t@]){_CLOCK}$")
_TIME_AT_START = re.compile(rf"^{_CLOCK}(?:[\s,]|$)")
_HEX = re.compile(r"^#?([0-9a-f]{3}|[0-9a-f]{6})$")
_RGB = re.compile(r"^rgba?\(\s*(\d{1,3})\s*,\s*(\d{1,3})\s*,\s*(\d{1,3})\s*(?:,\s*[\d.]+\s*)?\)$")
# DD/MM/YYYY, mm-dd-yy, jj/mm/aaaa (French), TT.MM.JJJJ (German), d MMM yyyy...
_TOKEN = r"([djtmya]{1,4})"
_PATTERN = re.compile(rf"(?<![\w]){_TOKEN}([./\- ]){_TOKEN}\2{_TOKEN}(?![\w])", re.IGNORECASE)
_EXAMPLE = re.compile(r"(?<![\d])(\d{1,4})([./\-])(\d{1,2})\2(\d{1,4})(?![\d])")
_MAX_TEXT = 80


def native_value(kind: str, text: str, hints: Hints = Hints()) -> Reading:
    """``text`` as the value of a native ``<input type=kind>`` (date, time, datetime-local,
    month, week, color), or ``range``'s number; raises :class:`DateTextError`."""
    raw = text.strip()
    if kind == "date":
        day, how = _date(raw, hints)
        return Reading(day.isoformat(), how)
    if kind == "time":
        return Reading(_time(raw))
    if kind == "datetime-local":
        return _datetime(raw, hints)
    if kind == "month":
        return _month(raw, hints)
    if kind == "week":
        return _week(raw, hints)
    if kind == "color":
        return Reading(_colour(raw))
    if kind == "range":
        try:
            float(raw)
        except ValueError:
            raise DateTextError(f"{_shown(text)} is not a number") from None
        return Reading(raw)
    return Reading(raw)


def field_pattern(texts: Iterable[str]) -> Hints:
    """The date format the page shows for a field, from its placeholder, label and help texts
    (first the first one that holds a pattern like ``DD/MM/YYYY``, else an example date such
    as ``31/12/2026`` whose order is clear)."""
    texts = [t for t in texts if t]
    for text in texts:
        for match in _PATTERN.finditer(text):
            pattern = _pattern(match)
            if pattern is not None:
                return Hints(pattern=pattern, order=pattern.order)
    for text in texts:
        for match in _EXAMPLE.finditer(text):
            pattern = _example(match)
            if pattern is not None:
                return Hints(pattern=pattern, order=pattern.order)
    return Hints()


def in_page_format(text: str, hints: Hints) -> Reading | None:
    """For a text field that shows a date pattern: ``text`` rewritten in it, when it is a date
    written another way; ``None`` when it already has the pattern's shape or is no date."""
    pattern = hints.pattern
    if pattern is None:
        return None
    raw = text.strip()
    if not raw or (_shape(pattern).fullmatch(raw) and _valid_in(raw, pattern)):
        return None
    try:
        day, _ = _date(raw, hints)
    except DateTextError:
        return None
    value = _format(day, pattern, hints)
    return None if value == raw else Reading(value, f"written as {pattern}, the field's format")


# -- dates -------------------------------------------------------------------------------


def _date(raw: str, hints: Hints) -> tuple[date, str]:
    text = _normalise(raw)
    if not text:
        raise DateTextError("no date given")
    month_words = [(w, _month_number(w, hints)) for w in re.findall(r"[^\W\d_]+", text)]
    if month_words:
        return _named_date(raw, text, month_words), ""
    iso = re.fullmatch(r"(\d{4})(\d{2})(\d{2})", text)
    if iso:
        return _make(raw, int(iso[1]), int(iso[2]), int(iso[3])), ""
    match = _NUMERIC.fullmatch(text)
    if not match:
        raise _unreadable(raw, "date")
    a, sep, b, c = match[1], match[2], match[3], match[4]
    if len(a) == 4:
        return _make(raw, int(a), int(b), int(c)), ""
    if len(a) == 3 or len(c) not in (2, 4):
        raise _unreadable(raw, "date")
    year = _year(c)
    first, second = int(a), int(b)
    if first > 12 and second > 12:
        raise _unreadable(raw, "date")
    if first > 12:
        return _make(raw, year, second, first), ""
    if second > 12 or first == second:
        return _make(raw, year, first, second), ""
    order, how = _numeric_order(sep, hints)
    if order is None:
        as_dmy, as_mdy = _make(raw, year, second, first), _make(raw, year, first, second)
        raise DateTextError(
            f"{_shown(raw)} is ambiguous ({how}): {first} {_EN_MONTHS[second - 1][0].title()} or "
            f"{_EN_MONTHS[first - 1][0].title()} {second}? write it as YYYY-MM-DD ({as_dmy.isoformat()} "
            f"or {as_mdy.isoformat()}) or with the month's name"
        )
    if order == "DMY":
        return _make(raw, year, second, first), how
    return _make(raw, year, first, second), how


def _numeric_order(sep: str, hints: Hints) -> tuple[str | None, str]:
    """Which of day and month comes first in an ambiguous ``a/b/yyyy``, and how we know; for
    no answer, why (``None`` and the reason)."""
    if hints.order in ("MDY", "DMY"):
        return hints.order, f"read as {hints.pattern or _ORDER_NAMES[hints.order]}, the field's format"
    if sep == ".":
        return "DMY", "read as DD.MM.YYYY"
    shown, page = hints.shown_order, hints.page_order
    if shown in ("MDY", "DMY") and page in ("MDY", "DMY") and shown != page:
        return None, (
            f"the browser shows {_ORDER_NAMES[shown]} but the page's language writes {_ORDER_NAMES[page]}"
        )
    for order, why in ((shown, "the order the field shows"), (page, "the page's language")):
        if order in ("MDY", "DMY"):
            return order, f"read as {_ORDER_NAMES[order]}, {why}"
    return None, "nothing on the page says which comes first"


def _named_date(raw: str, text: str, words: list[tuple[str, int | None]]) -> date:
    months = [n for _, n in words if n is not None]
    unknown = [w for w, n in words if n is None]
    if unknown or len(months) != 1:
        raise _unreadable(raw, "date")
    numbers = re.findall(r"\d+", text)
    if len(numbers) != 2:
        raise _unreadable(raw, "date")
    four = [n for n in numbers if len(n) == 4]
    if len(four) == 1:
        year_text = four[0]
        day_text = numbers[1] if numbers[0] == year_text else numbers[0]
    elif not four and all(len(n) <= 2 for n in numbers):
        day_text, year_text = numbers
    else:
        raise _unreadable(raw, "date")
    if len(day_text) > 2:
        raise _unreadable(raw, "date")
    return _make(raw, _year(year_text), months[0], int(day_text))


def _month_number(word: str, hints: Hints) -> int | None:
    plain = _fold(word.rstrip("."))
    for number, names in enumerate(_EN_MONTHS, start=1):
        if plain in names or (len(plain) >= 3 and names[0].startswith(plain)):
            return number
    for number, local in enumerate(hints.months[:12], start=1):
        folded = [_fold(n.rstrip(".")) for n in local if n]
        if plain in folded or (len(plain) >= 3 and any(f.startswith(plain) for f in folded)):
            return number
    return None


def _normalise(raw: str) -> str:
    text = _fold(raw)
    text = _WEEKDAY.sub(" ", text)
    text = _ORDINAL.sub(r"\1", text)
    text = _FILLER.sub(" ", text)
    text = re.sub(r"\s*,\s*|\s+", " ", text).strip(" ,")
    return re.sub(r"\s*([./\-])\s*", r"\1", text) if re.fullmatch(r"[\d\s./\-]+", text) else text


def _fold(text: str) -> str:
    """Lower case without accents: ``Décembre`` and ``decembre`` are one name."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def _year(text: str) -> int:
    value = int(text)
    if len(text) > 2:
        return value
    this_year = date.today().year
    year = 2000 + value
    return year if year <= this_year + 30 else 1900 + value


def _make(raw: str, year: int, month: int, day: int) -> date:
    try:
        return date(year, month, day)
    except ValueError:
        raise DateTextError(
            f"{_shown(raw)} is not a date (no day {day} in month {month} of {year})"
        ) from None


# -- times, date-times, months, weeks, colours --------------------------------------------


def _time(raw: str) -> str:
    text = re.sub(r"[\s\u00a0\u202f]+", " ", _fold(raw)).strip()
    special = {"noon": "12:00", "midday": "12:00", "midnight": "00:00"}
    if text in special:
        return special[text]
    match = _TIME.fullmatch(text)
    if not match or (match[2] is None and match[4] is None):
        raise _unreadable(raw, "time")
    hour, minute, second = int(match[1]), int(match[2] or 0), int(match[3] or 0)
    if match[4]:
        if not 1 <= hour <= 12:
            raise DateTextError(f"{_shown(raw)} is not a time (hour {hour} with am/pm)")
        hour = hour % 12 + (12 if match[4] == "p" else 0)
    if hour > 23 or minute > 59 or second > 59:
        raise DateTextError(f"{_shown(raw)} is not a time")
    return f"{hour:02d}:{minute:02d}" + (f":{second:02d}" if second else "")


def _datetime(raw: str, hints: Hints) -> Reading:
    text = _fold(raw).strip()
    iso = _ISO_DATETIME.fullmatch(text)
    if iso:
        day, _ = _date(iso[1], hints)
        return Reading(f"{day.isoformat()}T{_time(iso[2].split('.')[0])}")
    for finder, date_part in ((_TIME_AT_END, lambda m: text[: m.start(1)]),
                              (_TIME_AT_START, lambda m: text[m.end(1):])):
        match = finder.search(text)
        if match is None:
            continue
        rest = re.sub(r"[\s,@]+$|^[\s,@]+", "", date_part(match))
        rest = re.sub(r"\s+at$", "", rest)
        try:
            day, how = _date(rest, hints)
            clock = _time(match[1])
        except DateTextError:
            continue
        return Reading(f"{day.isoformat()}T{clock}", how)
    raise _unreadable(raw, "date and time")


def _month(raw: str, hints: Hints) -> Reading:
    text = _normalise(raw)
    match = re.fullmatch(r"(\d{4})[-/.](\d{1,2})", text) or re.fullmatch(r"(\d{1,2})[-/.](\d{4})", text)
    if match:
        year, month = (match[1], match[2]) if len(match[1]) == 4 else (match[2], match[1])
        if 1 <= int(month) <= 12:
            return Reading(f"{int(year):04d}-{int(month):02d}")
        raise DateTextError(f"{_shown(raw)} is not a month (no month {int(month)})")
    words = re.findall(r"[^\W\d_]+", text)
    numbers = re.findall(r"\d+", text)
    if len(words) == 1 and len(numbers) == 1 and len(numbers[0]) in (2, 4):
        month = _month_number(words[0], hints)
        if month is not None:
            return Reading(f"{_year(numbers[0]):04d}-{month:02d}")
    try:
        day, how = _date(raw, hints)
    except DateTextError:
        raise _unreadable(raw, "month") from None
    return Reading(f"{day.year:04d}-{day.month:02d}", how or f"the month of {day.isoformat()}")


def _week(raw: str, hints: Hints) -> Reading:
    text = _fold(raw).strip()
    match = (
        re.fullmatch(r"(\d{4})\s*[-,]?\s*w(?:eek)?\s*(\d{1,2})", text)
        or re.fullmatch(r"w(?:eek)?\s*(\d{1,2})\s*[-,/ ]?\s*(?:of\s+)?(\d{4})", text)
    )
    if match:
        year, week = (match[1], match[2]) if len(match[1]) == 4 else (match[2], match[1])
        last = date(int(year), 12, 28).isocalendar().week
        if not 1 <= int(week) <= last:
            raise DateTextError(f"{_shown(raw)} is not a week ({year} has weeks 1 to {last})")
        return Reading(f"{int(year):04d}-W{int(week):02d}")
    try:
        day, _ = _date(raw, hints)
    except DateTextError:
        raise _unreadable(raw, "week") from None
    iso = day.isocalendar()
    return Reading(f"{iso.year:04d}-W{iso.week:02d}", f"the week of {day.isoformat()}")


def _colour(raw: str) -> str:
    text = raw.strip().lower()
    match = _HEX.fullmatch(text)
    if match:
        digits = match[1]
        return "#" + ("".join(c * 2 for c in digits) if len(digits) == 3 else digits)
    match = _RGB.fullmatch(text)
    if match and all(int(v) <= 255 for v in match.groups()):
        return "#" + "".join(f"{int(v):02x}" for v in match.groups())
    raise DateTextError(f"{_shown(raw)} is not a colour: write it as #rrggbb")


# -- the page's own pattern ---------------------------------------------------------------


def _pattern(match: re.Match[str]) -> Pattern | None:
    tokens = [match[1].lower(), match[3].lower(), match[4].lower()]
    sep = match[2]
    parts: list[str] = []
    for token in tokens:
        kind = _token_kind(token)
        if kind is None:
            return None
        parts.append(kind)
    if sorted(_KIND[p] for p in parts) != ["D", "M", "Y"]:
        return None
    if sep == " " and min(len(t) for t in tokens) < 2:
        return None
    return Pattern((parts[0], sep, parts[1], sep, parts[2]))


def _token_kind(token: str) -> str | None:
    letters = set(token)
    if len(letters) != 1:
        return None
    letter, size = token[0], len(token)
    if letter in "ya" or (letter == "j" and size == 4):
        return "yyyy" if size == 4 else "yy" if size == 2 else None
    if letter in "djt" and size <= 2:
        return "dd" if size == 2 else "d"
    if letter == "m":
        return {1: "m", 2: "mm", 3: "mmm", 4: "mmmm"}[size]
    return None


def _example(match: re.Match[str]) -> Pattern | None:
    a, sep, b, c = match[1], match[2], match[3], match[4]
    if len(a) == 4:
        return Pattern(("yyyy", sep, "mm" if len(b) == 2 else "m", sep, "dd" if len(c) == 2 else "d"))
    if len(c) != 4 or len(a) > 2:
        return None
    first, second = int(a), int(b)
    if first > 12 >= second:
        parts = ("dd" if len(a) == 2 else "d", "mm" if len(b) == 2 else "m")
    elif second > 12 >= first:
        parts = ("mm" if len(a) == 2 else "m", "dd" if len(b) == 2 else "d")
    else:
        return None
    return Pattern((parts[0], sep, parts[1], sep, "yyyy"))


def _shape(pattern: Pattern) -> re.Pattern[str]:
    pieces = {"d": r"\d{1,2}", "dd": r"\d{2}", "m": r"\d{1,2}", "mm": r"\d{2}", "yy": r"\d{2}",
              "yyyy": r"\d{4}", "mmm": r"[^\W\d_]{3,}\.?", "mmmm": r"[^\W\d_]{3,}"}
    return re.compile("".join(pieces.get(p, re.escape(p)) for p in pattern.parts), re.IGNORECASE)


def _valid_in(raw: str, pattern: Pattern) -> bool:
    """Whether ``raw`` (which has ``pattern``'s shape) is a real date read in that pattern."""
    numbers = [int(n) for n in re.findall(r"\d+", raw)]
    numeric = [p for p in pattern.parts if p in ("d", "dd", "m", "mm", "yy", "yyyy")]
    if len(numbers) != len(numeric):
        return True  # month names: the shape is all there is to check
    got = {_KIND[p]: n for p, n in zip(numeric, numbers, strict=True)}
    try:
        date(2000 + got["Y"] if got["Y"] < 100 else got["Y"], got["M"], got["D"])
    except ValueError:
        return False
    return True


def _format(day: date, pattern: Pattern, hints: Hints) -> str:
    names = [list(n) for n in hints.months[:12]] if len(hints.months) >= 12 else None
    out = []
    for part in pattern.parts:
        if part == "d":
            out.append(str(day.day))
        elif part == "dd":
            out.append(f"{day.day:02d}")
        elif part == "m":
            out.append(str(day.month))
        elif part == "mm":
            out.append(f"{day.month:02d}")
        elif part == "mmm":
            out.append(names[day.month - 1][-1] if names else _EN_SHORT[day.month - 1].title())
        elif part == "mmmm":
            out.append(names[day.month - 1][0] if names else _EN_MONTHS[day.month - 1][0].title())
        elif part == "yy":
            out.append(f"{day.year % 100:02d}")
        elif part == "yyyy":
            out.append(f"{day.year:04d}")
        else:
            out.append(part)
    return "".join(out)


def _unreadable(raw: str, kind: str) -> DateTextError:
    examples = {
        "date": "YYYY-MM-DD (e.g. 2026-12-20) or with the month's name (20 December 2026)",
        "time": "HH:MM, 24 h (e.g. 15:45) or with am/pm (3:45 pm)",
        "date and time": "YYYY-MM-DD HH:MM (e.g. 2026-12-20 15:45)",
        "month": "YYYY-MM (e.g. 2026-12) or December 2026",
        "week": "YYYY-Www (e.g. 2026-W51) or a date in that week",
    }
    return DateTextError(f"{_shown(raw)} is not a {kind} that can be read: write it as {examples[kind]}")


def _shown(text: str) -> str:
    return repr(text if len(text) <= _MAX_TEXT else text[:_MAX_TEXT] + "…")
