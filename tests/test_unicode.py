"""Tests for pyauditor._unicode: AUDITOR's White_Space and grapheme cluster rules.

The segmentation is held to three independent references: the official GraphemeBreakTest file of
the Unicode version the tables come from, the pairwise-rules transcription in the module itself
(on random and exhaustive inputs), and, for the tests marked ``reference``, python-auditor 0.11.2
itself, run in a subprocess.
"""

from __future__ import annotations

import itertools
import json
import random
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pyauditor import _unicode, _unicode_data
from pyauditor._unicode import (
    UNICODE_VERSION,
    exceeds_graphemes,
    grapheme_count,
    graphemes,
    is_blank,
)
from tests.reference_harness import require_reference, run_reference_script

ROOT = Path(__file__).resolve().parent.parent
TEST_FILE = ROOT / "tests" / "data" / f"GraphemeBreakTest-{UNICODE_VERSION}.txt"

# Spelt out independently of the generated table, from the Unicode White_Space property.
WHITE_SPACE = set(
    "\t\n\x0b\x0c\r \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008"
    "\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)

FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467"
FLAG_DE = "\U0001f1e9\U0001f1ea"

# Code points that exercise every rule: controls, Hangul jamo and syllables, Prepend, SpacingMark,
# Extend with and without InCB, ZWJ, Regional_Indicator, Extended_Pictographic, InCB consonants
# and linkers, emoji modifiers and variation selectors, White_Space and near-misses.
INTERESTING = (
    "a Z0\r\n\t\x1c\x7f\u00a0\u0085\u3000\u200b\u00e9e\u0301\u0308\u0300\u034f"
    "\u0600\u0903\u093f\u0915\u0924\u094d\u0930\u09cd\u0995\u1039\u1000"
    "\u1100\u1161\u11a8\uac00\uac01\u200c\u200d\ufe0f\u2764\u00a9\u2701"
    "\U0001f1e6\U0001f1e9\U0001f1ea\U0001f600\U0001f3fb\U0001f468\U0001f469\U000e0061"
)
CLASS_LETTERS = "".join(_unicode_data.CLASS_NAMES)


def parse_break_test(path: Path) -> list[tuple[int, str, list[int]]]:
    """(line number, text, expected boundaries in code point offsets) per test line."""
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        data = line.split("#", 1)[0].split()
        if not data:
            continue
        text = ""
        bounds = []
        for token in data:
            if token == "÷":
                bounds.append(len(text))
            elif token != "×":
                text += chr(int(token, 16))
        cases.append((number, text, bounds))
    return cases


BREAK_TESTS = parse_break_test(TEST_FILE)


def fast_boundaries(s: str) -> list[int]:
    bounds = [0]
    for cluster in graphemes(s):
        bounds.append(bounds[-1] + len(cluster))
    return bounds


def rules_count(s: str) -> int:
    return len(_unicode._boundaries_by_rules(_unicode._classes(s))) - 1


# --- tables ---------------------------------------------------------------------------------


def test_break_test_file_matches_table_version() -> None:
    first = TEST_FILE.read_text(encoding="utf-8").split("\n", 1)[0]
    assert first == f"# GraphemeBreakTest-{UNICODE_VERSION}.txt"
    assert len(BREAK_TESTS) > 500


def test_class_runs_are_well_formed() -> None:
    runs = _unicode_data.CLASS_RUNS
    assert runs[0] >> 8 == 0
    assert list(runs) == sorted(runs)
    letters = [chr(run & 0xFF) for run in runs]
    assert set(letters) == set(CLASS_LETTERS)
    assert all(a != b for a, b in itertools.pairwise(letters))
    assert all(run >> 8 <= 0x10FFFF for run in runs)


def test_white_space_table_is_the_unicode_property() -> None:
    assert set(_unicode_data.WHITE_SPACE) == WHITE_SPACE


@pytest.mark.parametrize(
    ("char", "name"),
    [
        ("a", "Other"),
        ("\r", "CR"),
        ("\n", "LF"),
        ("\x1c", "Control"),
        ("\u200b", "Control"),
        ("\u0301", "Extend+InCB=Extend"),
        ("\u094d", "Extend+InCB=Linker"),
        ("\u0915", "InCB=Consonant"),
        ("\u200d", "ZWJ"),
        ("\U0001f1e6", "Regional_Indicator"),
        ("\u0600", "Prepend"),
        ("\u0903", "SpacingMark"),
        ("\u1100", "L"),
        ("\u1161", "V"),
        ("\u11a8", "T"),
        ("\uac00", "LV"),
        ("\uac01", "LVT"),
        ("\U0001f600", "Extended_Pictographic"),
        ("\u200c", "Extend"),  # ZWNJ: the only Extend without InCB since Unicode 16
        ("\U000e0061", "Extend+InCB=Extend"),
        ("\U0010ffff", "Other"),
    ],
)
def test_class_lookup(char: str, name: str) -> None:
    assert _unicode_data.CLASS_NAMES[_unicode._classes(char)] == name


def test_class_cache_stays_bounded_and_correct() -> None:
    limit = _unicode._ClassCache.LIMIT
    text = "".join(chr(cp) for cp in range(0x4E00, 0x4E00 + limit + 100))
    assert _unicode._classes(text) == "O" * len(text)
    assert len(_unicode._CLASSES) <= limit
    assert _unicode._classes("\u0915\u094d") == "ck"


# --- the official conformance file -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "bounds"),
    [pytest.param(text, bounds, id=f"line{number}") for number, text, bounds in BREAK_TESTS],
)
def test_grapheme_break_test(text: str, bounds: list[int]) -> None:
    assert fast_boundaries(text) == bounds
    assert _unicode._boundaries_by_rules(_unicode._classes(text)) == bounds
    assert grapheme_count(text) == len(bounds) - 1
    assert exceeds_graphemes(text, len(bounds) - 1) is False
    assert exceeds_graphemes(text, len(bounds) - 2) is True


# --- cases observed on python-auditor 0.11.2 --------------------------------------------------


@pytest.mark.parametrize(
    ("unit", "clusters_per_unit"),
    [
        ("a", 1),
        ("e\u0301", 1),  # 512 code points for 256 clusters
        ("\U0001f600", 1),
        (FAMILY, 1),  # an emoji ZWJ sequence is one cluster
        ("\u0451", 1),  # ё precomposed
        ("\u0435\u0308", 1),  # ё decomposed
        ("\r\n", 1),  # CRLF is one cluster (GB3)
        (FLAG_DE, 1),  # a regional-indicator pair is one flag
        ("\u0915\u094d\u0937", 1),  # क्ष: an Indic conjunct (GB9c)
        ("\u1100\u1161\u11a8", 1),  # a Hangul syllable from conjoining jamo
        ("\U0001f44d\U0001f3fd", 1),  # emoji with skin-tone modifier
    ],
)
def test_limit_256(unit: str, clusters_per_unit: int) -> None:
    ok = unit * (256 // clusters_per_unit)
    too_long = ok + unit
    assert grapheme_count(ok) == 256
    assert not exceeds_graphemes(ok, 256)
    assert grapheme_count(too_long) == 256 + clusters_per_unit
    assert exceeds_graphemes(too_long, 256)


def test_regional_indicators_pair_from_the_left() -> None:
    assert graphemes(FLAG_DE * 2) == [FLAG_DE, FLAG_DE]
    assert grapheme_count("\U0001f1e9" * 257) == 129
    assert not exceeds_graphemes("\U0001f1e9" * 512, 256)
    assert exceeds_graphemes("\U0001f1e9" * 513, 256)


def test_crlf_names_are_blank_whatever_their_length() -> None:
    # The reference rejects '\r\n' * 256 although it has only 256 clusters: it is all White_Space.
    assert not exceeds_graphemes("\r\n" * 256, 256)
    assert is_blank("\r\n" * 256)
    assert not exceeds_graphemes("x" + "\r\n" * 255, 256)
    assert exceeds_graphemes("x" + "\r\n" * 256, 256)


def test_empty_string() -> None:
    assert grapheme_count("") == 0
    assert graphemes("") == []
    assert not exceeds_graphemes("", 0)
    assert _unicode._boundaries_by_rules("") == [0]


@pytest.mark.parametrize("text", ["", "   ", "\t\n", "\u3000", "\u00a0", "\u0085", "\r\n" * 3])
def test_blank(text: str) -> None:
    assert is_blank(text)


@pytest.mark.parametrize("text", ["\u200b", "x", " x ", "\x1c", "\x1f", " \u200b ", "\ufeff"])
def test_not_blank(text: str) -> None:
    assert not is_blank(text)


# --- properties ------------------------------------------------------------------------------


@given(st.text(), st.integers(min_value=0, max_value=300))
def test_exceeds_is_count_comparison(text: str, limit: int) -> None:
    assert exceeds_graphemes(text, limit) == (grapheme_count(text) > limit)


@given(st.text(alphabet=INTERESTING, max_size=60), st.integers(min_value=0, max_value=64))
def test_exceeds_is_count_comparison_on_joining_text(text: str, limit: int) -> None:
    assert exceeds_graphemes(text, limit) == (grapheme_count(text) > limit)
    assert exceeds_graphemes(text, limit) == (rules_count(text) > limit)


@given(st.text())
def test_fast_path_matches_rules(text: str) -> None:
    assert fast_boundaries(text) == _unicode._boundaries_by_rules(_unicode._classes(text))


@given(st.text(alphabet=INTERESTING, max_size=60))
def test_fast_path_matches_rules_on_joining_text(text: str) -> None:
    assert fast_boundaries(text) == _unicode._boundaries_by_rules(_unicode._classes(text))
    assert "".join(graphemes(text)) == text


@given(st.text(alphabet=st.characters(max_codepoint=0x7F)), st.integers(0, 100))
def test_ascii_fast_path_matches_rules(text: str, limit: int) -> None:
    assert grapheme_count(text) == rules_count(text)
    assert exceeds_graphemes(text, limit) == (rules_count(text) > limit)


@given(st.text(alphabet=INTERESTING, max_size=40), st.integers(0, 50))
def test_short_strings_never_exceed(text: str, slack: int) -> None:
    limit = len(text) + slack
    assert not exceeds_graphemes(text, limit)
    assert rules_count(text) <= len(text) <= limit


@given(st.text(alphabet=CLASS_LETTERS, max_size=80))
def test_cluster_regex_matches_rules_on_class_strings(classes: str) -> None:
    ends = [match.end() for match in _unicode._CLUSTER.finditer(classes)]
    assert [0, *ends] == _unicode._boundaries_by_rules(classes)


@pytest.mark.parametrize(
    "length", [1, 2, 3, 4, pytest.param(5, marks=pytest.mark.slow)], ids=lambda n: f"len{n}"
)
def test_cluster_regex_matches_rules_exhaustively(length: int) -> None:
    # Every class sequence of the given length, so every interplay of up to five code points.
    rules = _unicode._boundaries_by_rules
    for combo in itertools.product(CLASS_LETTERS, repeat=length):
        classes = "".join(combo)
        ends = [match.end() for match in _unicode._CLUSTER.finditer(classes)]
        assert [0, *ends] == rules(classes), classes


@given(st.text())
def test_is_blank_is_white_space_only(text: str) -> None:
    assert is_blank(text) == all(ch in WHITE_SPACE for ch in text)


@given(st.text(alphabet=INTERESTING + "".join(WHITE_SPACE) + "\x1c\x1d\x1e\x1f"))
def test_is_blank_is_white_space_only_on_space_like_text(text: str) -> None:
    assert is_blank(text) == all(ch in WHITE_SPACE for ch in text)


@pytest.mark.parametrize(
    "text",
    [
        "\u0915" + "\u094d" * 100_000,  # consonant followed by many linkers, no second consonant
        "\u0915" + "\u0301" * 100_000,
        "\u0600" * 100_000 + "\n",  # Prepends that cannot attach to the control after them
        "\u1100" * 100_000 + "\n",
        "\U0001f600" + "\u0301" * 100_000 + "\u200d",
        ("\u0915\u094d" * 50_000) + "a",
        "\U0001f1e6" * 100_000,
    ],
    ids=["linkers", "extends", "prepends", "hangul-l", "emoji-extends", "conjuncts", "flags"],
)
def test_segmentation_stays_linear(text: str) -> None:
    start = time.perf_counter()
    grapheme_count(text)
    exceeds_graphemes(text, 256)
    assert time.perf_counter() - start < 2.0


# --- python-auditor 0.11.2 itself ---------------------------------------------------------------

# Reads a JSON list of names on stdin, answers a JSON list of booleans: does Record accept it?
_REFERENCE_SCRIPT = """
import datetime, json, sys
import pyauditor
t = datetime.datetime(2022, 8, 8, tzinfo=datetime.timezone.utc)
out = []
for name in json.load(open("names.json", encoding="utf-8")):
    try:
        pyauditor.Record(name, t)
        out.append(True)
    except RuntimeError as error:
        if "Invalid Name" not in str(error):
            raise
        out.append(False)
json.dump(out, sys.stdout)
"""


def reference_accepts(names: list[str], cwd: Path) -> list[bool]:
    require_reference()
    # A file, not the environment: the probe lists are far larger than an env var may be.
    (cwd / "names.json").write_text(json.dumps(names), encoding="utf-8")
    proc = run_reference_script(_REFERENCE_SCRIPT, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    result: list[bool] = json.loads(proc.stdout)
    assert len(result) == len(names)
    return result


def padded(text: str, clusters: int) -> str:
    """``text`` behind a prefix of ``clusters`` clusters that cannot join it or be blank."""
    # After LF every position breaks (GB4), so the prefix adds exactly `clusters`.
    return "x" + "\n" * (clusters - 1) + text


# The reference cannot be asked for a count, only whether a name has at most 256 clusters; each of
# these one- or two-cluster probes, padded to 255 clusters, tells whether one code point joins its
# neighbour in a context that separates the classes of _unicode_data.CLASS_NAMES.
_KA, _VIRAMA, _SMILE, _ZWJ = "\u0915", "\u094d", "\U0001f600", "\u200d"
_CONTEXTS = [
    "a{}",
    "{}a",
    _SMILE + _ZWJ + "{}",
    _KA + _VIRAMA + "{}",
    "{}\u0308",
    "\u1100{}",
    "{}\u1161",
    "{}\u11a8",
    "\U0001f1e6{}",
    _KA + _VIRAMA + "{}" + _KA,
    _KA + "{}" + _KA,
    _SMILE + "{}" + _SMILE,
    "\r{}",
    "{}\n",
    _SMILE + "{}" + _ZWJ + _SMILE,
    "\u1161{}",
]


def test_contexts_tell_every_class_apart() -> None:
    seen: dict[tuple[bool, ...], str] = {}
    for letter in CLASS_LETTERS:
        run = next(run for run in _unicode_data.CLASS_RUNS if chr(run & 0xFF) == letter)
        char = chr(run >> 8)
        signature = tuple(grapheme_count(c.format(char)) == 1 for c in _CONTEXTS)
        assert signature not in seen, (letter, seen.get(signature))
        seen[signature] = letter


@pytest.mark.reference
def test_reference_agrees_on_every_class_run(tmp_path: Path) -> None:
    runs = _unicode_data.CLASS_RUNS
    firsts = [run >> 8 for run in runs]
    lasts = [nxt - 1 for nxt in firsts[1:]] + [0x10FFFF]
    code_points = sorted(
        {cp for cp in firsts + lasts if not 0xD800 <= cp <= 0xDFFF} | {0xD7FF, 0xE000}
    )
    probes = [(cp, c.format(chr(cp))) for cp in code_points for c in _CONTEXTS]
    accepted = reference_accepts([padded(probe, 255) for _, probe in probes], tmp_path)
    wrong = [
        (f"U+{cp:04X}", probe)
        for (cp, probe), ok in zip(probes, accepted, strict=True)
        if ok != (grapheme_count(probe) <= 1)
    ]
    assert not wrong[:20]


@pytest.mark.reference
def test_reference_agrees_on_random_text(tmp_path: Path) -> None:
    rng = random.Random(20240808)
    texts = [
        "".join(rng.choice(INTERESTING) for _ in range(rng.randint(1, 24))) for _ in range(3000)
    ]
    texts += [text for _, text, _ in BREAK_TESTS]
    names = []
    for text in texts:
        count = grapheme_count(text)
        names += [padded(text, 256 - count), padded(text, 257 - count)]
    accepted = reference_accepts(names, tmp_path)
    wrong = [
        text
        for text, ok_at_256, ok_at_257 in zip(texts, accepted[::2], accepted[1::2], strict=True)
        if not ok_at_256 or ok_at_257
    ]
    assert not wrong[:20]


@pytest.mark.reference
def test_reference_agrees_on_blank_names(tmp_path: Path) -> None:
    rng = random.Random(3000)
    singles = [chr(cp) for cp in range(0x3100) if not 0xD800 <= cp <= 0xDFFF]
    spacey = "".join(WHITE_SPACE) + "\x1c\x1d\x1e\x1f\u200b\ufeffx"
    mixes = ["".join(rng.choice(spacey) for _ in range(rng.randint(1, 8))) for _ in range(2000)]
    names = singles + mixes
    accepted = reference_accepts(names, tmp_path)
    wrong = [name for name, ok in zip(names, accepted, strict=True) if ok == is_blank(name)]
    assert not wrong[:20]


@pytest.mark.reference
def test_reference_observed_limits(tmp_path: Path) -> None:
    units = ["a", "e\u0301", "\U0001f600", FAMILY, "\u0451", FLAG_DE, "\u0915\u094d\u0937"]
    names = [unit * count for unit in units for count in (256, 257)]
    names += ["x" + "\r\n" * 255, "x" + "\r\n" * 256, "\r\n" * 256]
    accepted = reference_accepts(names, tmp_path)
    ours = [not is_blank(name) and not exceeds_graphemes(name, 256) for name in names]
    assert accepted == ours


@settings(deadline=None)
@given(st.text(alphabet=INTERESTING, min_size=257, max_size=400))
def test_general_path_on_long_text(text: str) -> None:
    assert exceeds_graphemes(text, 256) == (rules_count(text) > 256)
