"""Find every secret value in a text in time linear in the text, in every form it may take.

The one masker of browserfleet: the producer masks what a user pasted into a task (its text,
metadata, start URL, ground truth) before anything is stored, and the worker masks whatever
leaves the browser (the model's state, steps, errors, logs). A value reaches text in many
shapes: as typed; percent-encoded by a form post (``+`` for spaces), by
``encodeURIComponent`` or by Chromium's URL canonicalisation; JSON-escaped (ASCII or not);
HTML-escaped; base64-encoded (alone, or inside a longer base64 text such as a Basic
``Authorization`` value, at any of the three byte alignments); with its whitespace collapsed by
text extraction; with a trailing newline dropped; upper-cased by CSS; cut short with ``…`` by a
listing. All of these forms, lower-cased, go into one Aho-Corasick automaton, together with
every :data:`MIN_FRAGMENT`-character window of each long value (a value shown in part); one
pass over the lower-cased text finds them all, and overlapping hits merge into one
placeholder. A value cut short to fewer than :data:`MIN_FRAGMENT` characters is recognised by
the ``…`` that follows it.

The placeholder the model sees and writes, ``<secret>name</secret>``, is spelled here only.
"""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Mapping
from urllib.parse import quote, quote_plus

import ahocorasick

PLACEHOLDER_OPEN, PLACEHOLDER_CLOSE = "<secret>", "</secret>"
PLACEHOLDER = re.compile(re.escape(PLACEHOLDER_OPEN) + r"([A-Za-z0-9_\-]+)" + re.escape(PLACEHOLDER_CLOSE))
MIN_BASE64_CORE = 8  # shorter base64 pieces of a value are not looked for (ordinary words match)


def placeholder(name: str) -> str:
    """How a secret is named where its value would be: ``<secret>name</secret>``."""
    return f"{PLACEHOLDER_OPEN}{name}{PLACEHOLDER_CLOSE}"

MIN_FRAGMENT = 16  # any run this long of a value is masked; ordinary text never matches by chance
MIN_PREFIX = 4  # a cut-short value ("hunt…") is masked from this many characters on
ELLIPSES = ("…", "...")

# Characters each encoder leaves alone (everything else is percent-encoded).
_URI_COMPONENT_SAFE = "-_.!~*'()"  # encodeURIComponent
_FORM_SAFE = "-_.*"  # application/x-www-form-urlencoded (space becomes '+')
_URL_QUERY_SAFE = "!$&'()*+,-./:;=?@[\\]^_`{|}~"  # what Chromium leaves in a query
_URL_PATH_SAFE = "!$&'()*+,-./:;=@[\\]^_|~"  # ... and in a path


def fold(text: str) -> str:
    """Lower-case ``text`` without changing its length (so positions map back)."""
    lowered = text.lower()
    if len(lowered) == len(text):
        return lowered
    return "".join(c if len(c.lower()) != 1 else c.lower() for c in text)


def forms(value: str) -> set[str]:
    """Every shape ``value`` may take in text that left the browser."""
    variants = {value, value.strip(), " ".join(value.split())}
    out: set[str] = set()
    for v in variants:
        out |= {
            v,
            quote(v, safe=""),
            quote(v, safe=_URI_COMPONENT_SAFE),
            quote_plus(v, safe=""),
            quote_plus(v, safe=_FORM_SAFE),
            quote(v, safe=_URL_QUERY_SAFE),
            quote(v, safe=_URL_PATH_SAFE),
            json.dumps(v)[1:-1],
            json.dumps(v, ensure_ascii=False)[1:-1],
            html.escape(v),
            html.escape(v, quote=False),
            html.escape(v).replace("&#x27;", "&#39;"),
        }
        out |= base64_forms(v)
    return {f for f in out if len(f) >= MIN_PREFIX}


def base64_forms(value: str) -> set[str]:
    """``value`` base64-encoded (standard and URL-safe alphabets, padded or not), and the part of
    its encoding that does not depend on what surrounds it inside a longer base64 text, for each
    of the three byte alignments (``user:password`` in a Basic ``Authorization`` header)."""
    raw = value.encode()
    found: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode()
        found |= {whole, whole.rstrip("=")}
        for lead in range(3):
            text = encode(b"\0" * lead + raw).decode()
            first = -(-8 * lead // 6)  # the first character made of the value's bits only
            last = 8 * (lead + len(raw)) // 6  # the first one that also holds what follows it
            if last - first >= MIN_BASE64_CORE:
                found.add(text[first:last])
    return found


class Masker:
    """Replaces every form of every value by its name's placeholder; build once per vault."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._automaton = ahocorasick.Automaton()
        self._prefixes: dict[str, str] = {}
        for name, value in sorted(values.items()):
            for form in sorted(forms(value), key=len, reverse=True):
                self._add(fold(form), name)
            folded = fold(value)
            for start in range(len(folded) - MIN_FRAGMENT + 1):
                self._add(folded[start : start + MIN_FRAGMENT], name)
            for end in range(MIN_PREFIX, min(len(folded), MIN_FRAGMENT)):
                self._prefixes.setdefault(folded[:end], name)
        self._empty = len(self._automaton) == 0
        if not self._empty:
            self._automaton.make_automaton()

    def _add(self, key: str, name: str) -> None:
        if key and key not in self._automaton:
            self._automaton.add_word(key, (len(key), name))

    def mask(self, text: str, placeholder: Mapping[str, str]) -> str:
        """``text`` with each hit replaced by ``placeholder[name]``; linear in ``len(text)``."""
        if not text or self._empty:
            return text
        folded = fold(text)
        reach = [0] * (len(text) + 1)  # reach[start]: the furthest end of a hit starting there
        owner: dict[int, str] = {}
        for end, (length, name) in self._automaton.iter(folded):
            start = end - length + 1
            if end + 1 > reach[start]:
                reach[start], owner[start] = end + 1, name
        self._mark_cut_prefixes(folded, reach, owner)
        if not owner:
            return text
        out: list[str] = []
        i, n = 0, len(text)
        while i < n:
            if reach[i] <= i:
                j = i
                while j < n and reach[j] <= j:
                    j += 1
                out.append(text[i:j])
                i = j
                continue
            name, stop, j = owner[i], reach[i], i
            while j < stop:  # merge every hit that overlaps this one
                stop = max(stop, reach[j])
                j += 1
            out.append(placeholder[name])
            i = stop
        return "".join(out)

    def _mark_cut_prefixes(self, folded: str, reach: list[int], owner: dict[int, str]) -> None:
        """A value's start cut short and followed by an ellipsis (``hunter2…``)."""
        if not self._prefixes:
            return
        for ellipsis in ELLIPSES:
            at = folded.find(ellipsis)
            while at >= 0:
                for length in range(MIN_FRAGMENT - 1, MIN_PREFIX - 1, -1):
                    start = at - length
                    name = self._prefixes.get(folded[start:at]) if start >= 0 else None
                    if name is not None:
                        if at > reach[start]:
                            reach[start], owner[start] = at, name
                        break
                at = folded.find(ellipsis, at + 1)
