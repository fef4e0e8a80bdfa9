"""The two Unicode questions behind AUDITOR's name rule, answered the way the Rust server does.

AUDITOR's ``ValidName::parse`` rejects a name when ``name.trim().is_empty()`` or when the name has
more than 256 extended grapheme clusters (``unicode-segmentation``'s ``graphemes(true)``, i.e.
UAX #29).  Python's own notions differ on both counts: ``str.strip``/``str.isspace`` treat
U+001C..U+001F as white space although Rust's ``trim`` (the Unicode White_Space property) does not,
and ``len`` counts code points, not grapheme clusters.  This module reproduces the Rust behaviour
with the tables of :mod:`pyauditor._unicode_data` (generated from the UCD by
``tools/gen_unicode_data.py``; :data:`UNICODE_VERSION` names the release).

The release matters: python-auditor 0.11.2 is built with unicode-segmentation 1.13.3, which
implements Unicode 17.0, and 17.0 took 689 assigned symbols such as U+2701 and U+2605 out of
Extended_Pictographic and extended Indic conjuncts (GB9c) to Myanmar, Khmer, Balinese and other
scripts.  Tables of an older release would count some names differently from the reference.

Segmentation works on a *class string*: every code point is replaced (``str.translate``) by one
letter naming the combination of Grapheme_Cluster_Break, Extended_Pictographic and
Indic_Conjunct_Break properties it has (``_unicode_data.CLASS_NAMES``).  A regular expression over
those letters, the UAX #29 "extended grapheme cluster" grammar, then matches one cluster at a time,
so the per-character work runs in C.  :func:`_boundaries_by_rules` is the same segmentation written
as the pairwise rules GB3-GB999; the tests hold both to the official GraphemeBreakTest file and to
each other.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from typing import Final

from ._unicode_data import CLASS_RUNS, UNICODE_VERSION, WHITE_SPACE

__all__ = [
    "UNICODE_VERSION",
    "exceeds_graphemes",
    "grapheme_count",
    "graphemes",
    "is_blank",
]


def is_blank(s: str) -> bool:
    """Return True if ``s`` is empty or consists only of White_Space code points.

    This is Rust's ``s.trim().is_empty()``: U+001C..U+001F are not blank (although
    ``str.isspace()`` says they are), and neither is U+200B ZERO WIDTH SPACE.
    """
    # strip() with an explicit set stops at the first other character from either end, so the
    # usual non-blank name costs two character comparisons.
    return not s.strip(WHITE_SPACE)


class _ClassCache(dict[int, str]):
    """Code point -> class letter, filled on demand so ``str.translate`` can use it directly.

    Names repeat a small alphabet, so after the first few strings nearly every lookup is a C-level
    dict hit; the bisect in ``__missing__`` runs once per distinct code point.
    """

    # Bounds the memory an adversarial input (every code point once) can pin; real names stay
    # far below it, so the cache is practically never dropped.
    LIMIT: Final = 8192

    def __missing__(self, cp: int) -> str:
        letter = chr(CLASS_RUNS[bisect_right(CLASS_RUNS, (cp << 8) | 0xFF) - 1] & 0xFF)
        if len(self) >= self.LIMIT:
            self.clear()
        self[cp] = letter
        return letter


_CLASSES: Final = _ClassCache()

# The extended grapheme cluster grammar of UAX #29 (table "Extended Grapheme Cluster"), spelt in
# class letters:  crlf | Control | Prepend* core postcore*.  At every position the first
# alternative that matches is also the longest cluster the rules allow, because each repetition is
# greedy and each alternative that can extend another comes first (RI pair before a single code
# point, L*(V+|LV V*|LVT)T* before L+).  The first alternative is the general one specialised to a
# cluster that starts with a code point no core rule extends; it changes no result and spares the
# commonest clusters the walk through the others.  Possessive quantifiers are only used where the
# next token cannot be matched by the repeated class, so they change no result either; they keep
# inputs such as a consonant followed by thousands of virama-like marks linear instead of
# quadratic.  Prepend* stays backtracking: a lone Prepend before a control is a cluster of its own
# (GB5 takes precedence over GB9b).
#
#   O     Other                r n  CR, LF            C  Control          P  Prepend
#   E     Extend (no InCB)     e  Extend, InCB=Extend k  Extend, InCB=Linker
#   Z     ZWJ (InCB=Extend)    S  SpacingMark         R  Regional_Indicator
#   X     Extended_Pictographic                       c  InCB=Consonant
#   L V T v t   Hangul L, V, T, LV, LVT
_CLUSTER: Final = re.compile(
    r"[OEekZS][EekZS]*+"
    r"|rn|[Crn]"  # GB3-GB5
    r"|P*(?:"  # GB9b
    r"L*+(?:V++|vV*+|t)T*+|L++|T++"  # GB6-GB8: Hangul syllable
    r"|RR"  # GB12/GB13: one flag
    r"|X(?:[Eek]*+ZX)*+"  # GB11: emoji ZWJ sequence
    r"|c(?:[eZ]*+k[ekZ]*+c)++"  # GB9c: Indic conjunct
    r"|[^Crn]"
    r")[EekZS]*+"  # GB9, GB9a: Extend, ZWJ, SpacingMark
)


def _classes(s: str) -> str:
    return s.translate(_CLASSES)


def graphemes(s: str) -> list[str]:
    """Split ``s`` into its extended grapheme clusters (UAX #29, like ``graphemes(true)``)."""
    if s.isascii() and "\r\n" not in s:
        return list(s)
    return [s[match.start() : match.end()] for match in _CLUSTER.finditer(_classes(s))]


def grapheme_count(s: str) -> int:
    """Return the number of extended grapheme clusters in ``s``."""
    if s.isascii():
        # The only ASCII code points that join are CR LF (GB3); every other one is Control or
        # Other and stands alone.
        return len(s) - s.count("\r\n")
    # subn counts matches in C without building the list of clusters that findall would.
    return _CLUSTER.subn("", _classes(s))[1]


def exceeds_graphemes(s: str, limit: int) -> bool:
    """Return True if ``s`` has more than ``limit`` extended grapheme clusters.

    Equivalent to ``grapheme_count(s) > limit`` but usually much cheaper: a cluster holds at least
    one code point, so strings of at most ``limit`` code points are never segmented, and
    segmentation stops as soon as the count passes ``limit``.
    """
    if len(s) <= limit:
        return False
    if s.isascii():
        return len(s) - s.count("\r\n") > limit
    # count= makes the C matcher stop at the first cluster past the limit.
    return _CLUSTER.subn("", _classes(s), count=limit + 1)[1] > limit


_CONTROLS: Final = frozenset("Crn")
_EXTENDS: Final = frozenset("EekZS")  # GCB=Extend, ZWJ (GB9) and SpacingMark (GB9a)
_GCB_EXTEND: Final = frozenset("Eek")  # GCB=Extend alone: the Extend* of GB11
_INCB_EXTEND: Final = frozenset("eZ")


def _joins(prev: str, cur: str, emoji: int, conjunct: int, ri_run: int) -> bool:
    """Decide one position by GB3-GB999, in the order UAX #29 gives them precedence."""
    if prev == "r" and cur == "n":  # GB3
        return True
    if prev in _CONTROLS or cur in _CONTROLS:  # GB4, GB5
        return False
    if prev == "L" and cur in "LVvt":  # GB6
        return True
    if prev in "vV" and cur in "VT":  # GB7
        return True
    if prev in "tT" and cur == "T":  # GB8
        return True
    if cur in _EXTENDS or prev == "P":  # GB9, GB9a, GB9b
        return True
    if cur == "c" and conjunct == 2:  # GB9c
        return True
    if cur == "X" and emoji == 2:  # GB11
        return True
    return cur == "R" and ri_run % 2 == 1  # GB12, GB13; otherwise GB999


def _boundaries_by_rules(classes: str) -> list[int]:
    """Return the cluster boundaries (offsets, including 0 and the end) of a class string.

    A direct transcription of UAX #29's rules GB1-GB999: each position is decided from the pair
    around it plus the left context that GB9c, GB11 and GB12/GB13 look back on, tracked as three
    small state variables.  Much slower than :data:`_CLUSTER`; it is the readable statement of
    the rules that the fast path is tested against.
    """
    bounds = [0]
    # GB11: 1 after ExtPict Extend*, 2 after ExtPict Extend* ZWJ, else 0.
    emoji = 0
    # GB9c: 1 after Consonant [InCB Extend|Linker]* without a Linker, 2 with one, else 0.
    conjunct = 0
    # GB12/GB13: length of the run of Regional_Indicators that ends at the previous code point.
    ri_run = 0
    prev = ""
    for i, cur in enumerate(classes):
        if i and not _joins(prev, cur, emoji, conjunct, ri_run):
            bounds.append(i)
        if cur == "X":
            emoji = 1
        elif cur == "Z" and emoji == 1:
            emoji = 2
        elif not (cur in _GCB_EXTEND and emoji == 1):
            emoji = 0
        if cur == "c":
            conjunct = 1
        elif cur == "k" and conjunct:
            conjunct = 2
        elif not (cur in _INCB_EXTEND and conjunct):
            conjunct = 0
        ri_run = ri_run + 1 if cur == "R" else 0
        prev = cur
    if classes:
        bounds.append(len(classes))
    return bounds
