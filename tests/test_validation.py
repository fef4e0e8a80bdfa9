"""The validation rules (pyauditor._validation) and the forbidden-character switch."""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import os
import subprocess
import sys
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pyauditor
from pyauditor import Component, Meta, Record, Score, ValidationError, Value
from pyauditor._record_codec import record_add_body
from pyauditor._validation import (
    ENV_ALLOW_FORBIDDEN,
    FORBIDDEN_CHARACTERS,
    PLAIN_NAME,
    are_plain_metas_json,
    check_amount,
    check_name,
    check_score_value,
    check_str_list,
    check_u8,
    check_u64,
    describe,
    is_plain,
    is_plain_meta_json,
    is_valid_server_name,
)
from pyauditor._wire import encode
from pyauditor.testing import AuditorTestServer

UTC = dt.UTC
T0 = dt.datetime(2022, 8, 8, 11, 30, tzinfo=UTC)


@pytest.fixture
def relaxed() -> Iterator[None]:
    """Relax the forbidden-character rule for one test, restoring the previous setting."""
    before = pyauditor.forbidden_characters_allowed()
    pyauditor.allow_forbidden_characters()
    yield
    pyauditor.allow_forbidden_characters(before)


@pytest.fixture
def strict() -> Iterator[None]:
    before = pyauditor.forbidden_characters_allowed()
    pyauditor.allow_forbidden_characters(False)
    yield
    pyauditor.allow_forbidden_characters(before)


# -- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "r1",
        " x ",  # not trimmed, only checked
        "\u200b",  # ZERO WIDTH SPACE is not White_Space
        "\x1c",  # str.isspace() says blank, Rust's trim does not
        "a" * 256,
        "e\u0301" * 256,  # 512 code points, 256 grapheme clusters
        "\U0001f600" * 256,
        "\U0001f468\u200d\U0001f469\u200d\U0001f467" * 256,  # ZWJ clusters
        "ü,;&=?# ~",
        "site_1.example-org:8443@[v]",
    ],
)
def test_valid_names(name: str) -> None:
    assert check_name(name, "record_id") == name
    assert Record(name, T0).record_id == name
    assert is_valid_server_name(name)


@pytest.mark.parametrize(
    ("name", "what"),
    [
        ("", "is empty"),
        ("   ", "is blank"),
        ("\t\n", "is blank"),
        ("\u3000", "is blank"),
        ("\u00a0", "is blank"),
        ("\u2028\u2029", "is blank"),
        ("\r\n" * 129, "is blank"),
        ("a" * 257, "is too long"),
        ("e\u0301" * 257, "is too long"),
        ("\U0001f600" * 257, "is too long"),
        ("\ud800", "lone surrogate"),
        ("ok\udfffok", "lone surrogate"),
        ("x\x00y", "contains the NUL character at index 1"),
        ("\x00", "NUL character"),
        ("a" * 300 + "\x00", "NUL character at index 300"),
    ],
)
def test_invalid_names(name: str, what: str) -> None:
    with pytest.raises(ValidationError) as info:
        check_name(name, "component name")
    error = info.value
    assert what in str(error)
    assert error.field == "component name"
    assert error.value == name
    assert error.rule in str(error)
    assert isinstance(error, RuntimeError)  # python-auditor raised RuntimeError
    assert isinstance(error, ValueError)
    assert not is_valid_server_name(name)


def test_messages_are_one_line_and_quote_huge_values_shortened() -> None:
    with pytest.raises(ValidationError) as info:
        Record("\n" * 5000, T0)
    message = str(info.value)
    assert "\n" not in message
    assert "(5000 characters)" in message
    assert len(message) < 400
    assert describe("abc") == "'abc'"
    assert describe("x" * 61).endswith("… (61 characters)")


@pytest.mark.parametrize("character", list(FORBIDDEN_CHARACTERS))
def test_forbidden_characters_are_rejected_by_default(strict: None, character: str) -> None:
    name = f"job{character}42"
    for make, field in [
        (lambda: Record(name, T0), "record_id"),
        (lambda: Component(name, 1), "component name"),
        (lambda: Score(name, 1.0), "score name"),
    ]:
        with pytest.raises(ValidationError) as info:
            make()
        error = info.value
        message = str(error)
        # The message names the field, the character and the switch.
        assert message.startswith(field)
        assert f"forbidden character {character!r}" in message
        assert "allow_forbidden_characters()" in message
        assert ENV_ALLOW_FORBIDDEN in message
        assert error.field == field
    # The server's rule (AUDITOR >= 0.7) does not include it.
    assert is_valid_server_name(name)


def test_meta_is_checked_when_sent_not_when_built(strict: None) -> None:

    record = Record("r1", T0).with_meta(
        Meta().insert("k/ey", ["v"])
    )  # accepted, as in python-auditor
    with pytest.raises(
        ValidationError, match=r"meta key 'k/ey' contains the forbidden character '/'"
    ):
        record_add_body(record)
    record = Record("r1", T0).with_meta(Meta().insert("site", ["a", "(b)"]))
    with pytest.raises(ValidationError, match=r"meta value of key 'site' '\(b\)' contains"):
        record.validate()


@pytest.mark.parametrize("relax", [False, True])
def test_nul_is_refused_everywhere_before_anything_is_sent(
    relax: bool, auditor_server: AuditorTestServer
) -> None:
    """Issue 14 item 8: AUDITOR answers a NUL with 500 (PostgreSQL cannot store it), so a
    record holding one could never be delivered; every name position refuses it up front."""
    before = pyauditor.forbidden_characters_allowed()
    pyauditor.allow_forbidden_characters(relax)
    try:
        for make, field in [
            (lambda: Record("job\x0042", T0), "record_id"),
            (lambda: Component("cpu\x00", 1), "component name"),
            (lambda: Score("\x00HEPSPEC", 1.0), "score name"),
        ]:
            with pytest.raises(ValidationError, match="NUL") as info:
                make()
            assert info.value.field == field
            assert "PostgreSQL" in info.value.rule
        client = pyauditor.AuditorClientBuilder().connection_string(auditor_server.url)
        blocking = client.build_blocking()
        for meta, field in [
            (Meta().insert("site\x00", ["a"]), "meta key"),
            (Meta().insert("site", ["a", "b\x00"]), "meta value"),
        ]:
            record = Record("r1", T0).with_meta(meta)  # accepted when built, as in python-auditor
            with pytest.raises(ValidationError, match="NUL character") as info:
                blocking.add(record)
            assert info.value.field == field
            with pytest.raises(ValidationError, match="NUL character"):
                blocking.bulk_insert([Record("r0", T0), record])
        assert auditor_server.requests == []
        assert auditor_server.count() == 0
    finally:
        pyauditor.allow_forbidden_characters(before)


def test_switch_from_code(strict: None) -> None:
    assert pyauditor.forbidden_characters_allowed() is False
    pyauditor.allow_forbidden_characters()
    assert pyauditor.forbidden_characters_allowed() is True
    assert Record('a/b()"<>\\{}', T0).record_id == 'a/b()"<>\\{}'
    pyauditor.allow_forbidden_characters(False)
    with pytest.raises(ValidationError):
        Record("a/b", T0)
    with pytest.raises(TypeError):
        pyauditor.allow_forbidden_characters("yes")  # type: ignore[arg-type]


def test_relaxed_rule_still_checks_blank_and_length(relaxed: None) -> None:
    with pytest.raises(ValidationError, match="is blank"):
        Record(" ", T0)
    with pytest.raises(ValidationError, match="is too long"):
        Record("/" * 257, T0)


def test_plain_names_are_valid_under_both_rules(relaxed: None) -> None:
    # Remembered plain names skip the checks; that must not depend on the switch.
    assert is_plain("cpu")
    assert is_plain("cpu")
    assert not is_plain("a/b")
    assert not is_plain("a b")
    assert not is_plain("")
    pyauditor.allow_forbidden_characters(False)
    assert Component("cpu", 1).name == "cpu"


def _run_python(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if k != ENV_ALLOW_FORBIDDEN}
    environment.update(env)
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=environment,
        check=False,
        timeout=60,
    )


PROBE = (
    "import datetime, pyauditor\n"
    "print(pyauditor.forbidden_characters_allowed())\n"
    "t = datetime.datetime(2022, 1, 1, tzinfo=datetime.timezone.utc)\n"
    "try:\n"
    "    print(pyauditor.Record('job/1', t).record_id)\n"
    "except pyauditor.ValidationError as e:\n"
    "    print('rejected')\n"
)


@pytest.mark.parametrize(
    ("value", "allowed"),
    [("1", True), ("true", True), ("YES", True), (" on ", True), ("0", False), ("", False)],
)
def test_switch_from_the_environment(value: str, allowed: bool) -> None:
    proc = _run_python(PROBE, **{ENV_ALLOW_FORBIDDEN: value})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [str(allowed), "job/1" if allowed else "rejected"]
    assert proc.stderr == ""


def test_switch_unset_in_the_environment_means_enforced() -> None:
    proc = _run_python(PROBE)
    assert proc.stdout.splitlines() == ["False", "rejected"]


def test_unknown_environment_value_warns_and_enforces() -> None:
    proc = _run_python(PROBE, **{ENV_ALLOW_FORBIDDEN: "maybe"})
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == ["False", "rejected"]
    assert "RuntimeWarning" in proc.stderr
    assert "maybe" in proc.stderr


def test_code_overrides_the_environment() -> None:
    code = "import pyauditor\npyauditor.allow_forbidden_characters(False)\n" + PROBE
    proc = _run_python(code, **{ENV_ALLOW_FORBIDDEN: "1"})
    assert proc.stdout.splitlines() == ["False", "rejected"]


# -- types ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "message"),
    [(1, "'int' object is not an instance of 'str'"), (None, "'None' is not an instance of 'str'")],
)
def test_names_must_be_str(value: object, message: str) -> None:
    for make in (lambda: Record(value, T0), lambda: Component(value, 1), lambda: Score(value, 1)):  # type: ignore[arg-type]
        with pytest.raises(TypeError) as info:
            make()
        assert str(info.value) == message


def test_str_subclasses_are_stored_as_plain_str() -> None:
    class Name(str):
        pass

    assert type(Record(Name("r1"), T0).record_id) is str
    assert type(Component(Name("c"), 1).name) is str


def test_sequences_of_str() -> None:
    assert check_str_list(["a", "b"]) == ["a", "b"]
    assert check_str_list(("a",)) == ["a"]
    with pytest.raises(TypeError, match="Can't extract `str` to `Vec`"):
        check_str_list("abc")
    with pytest.raises(TypeError, match="'None' is not an instance of 'Sequence'"):
        check_str_list(None)
    with pytest.raises(TypeError, match="'dict' object is not an instance of 'Sequence'"):
        check_str_list({})
    with pytest.raises(TypeError, match="'generator' object is not an instance of 'Sequence'"):
        check_str_list(x for x in "ab")
    with pytest.raises(TypeError, match="'int' object is not an instance of 'str'"):
        check_str_list([1])


# -- numbers -------------------------------------------------------------------------------


@pytest.mark.parametrize(("value", "expected"), [(0, 0), (7, 7), (True, 1), (2**63 - 1, 2**63 - 1)])
def test_amounts(value: int, expected: int) -> None:
    assert check_amount(value) == expected
    assert type(check_amount(value)) is int


def test_amount_errors() -> None:
    with pytest.raises(ValidationError, match=r"component amount -1 is negative"):
        check_amount(-1)
    with pytest.raises(ValidationError):
        check_amount(-(2**70))
    with pytest.raises(OverflowError, match="Python int too large to convert to C long"):
        check_amount(2**63)
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        check_amount(1.0)
    with pytest.raises(TypeError, match="'str' object cannot be interpreted as an integer"):
        check_amount("3")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (9.2, 9.2),
        (0.0, 0.0),
        (3, 3.0),
        (True, 1.0),
        (decimal.Decimal("1.5"), 1.5),
        (fractions.Fraction(1, 4), 0.25),
        (2**70, float(2**70)),
        (5e-324, 5e-324),
    ],
)
def test_score_values(value: object, expected: float) -> None:
    result = check_score_value(value)
    assert result == expected
    assert type(result) is float


def test_negative_zero_is_a_valid_score() -> None:
    assert str(check_score_value(-0.0)) == "-0.0"


@pytest.mark.parametrize(
    ("value", "what"),
    [
        (-0.1, "is negative"),
        (float("-inf"), "is negative"),
        (float("nan"), "is not a number"),
        (float("inf"), "is infinite"),
    ],
)
def test_invalid_score_values(value: float, what: str) -> None:
    # python-auditor accepts NaN and +inf and sends them as null, which the server rejects;
    # failing at construction points at the bad value instead.
    with pytest.raises(ValidationError, match=what) as info:
        Score("hs", value)
    assert info.value.field == "score value"


def test_score_value_types() -> None:
    with pytest.raises(TypeError, match="must be real number, not str"):
        check_score_value("3")
    with pytest.raises(TypeError, match="must be real number, not NoneType"):
        check_score_value(None)
    with pytest.raises(OverflowError, match="int too large to convert to float"):
        check_score_value(2**1024)


def test_fixed_width_integers() -> None:
    assert check_u8(255) == 255
    assert check_u8(True) == 1
    with pytest.raises(OverflowError, match="number too large to fit in target type"):
        check_u8(256)
    with pytest.raises(OverflowError, match="number too small to fit in target type"):
        check_u8(-1)
    assert check_u64(2**64 - 1) == 2**64 - 1
    with pytest.raises(OverflowError, match="int too big to convert"):
        check_u64(2**64)
    with pytest.raises(OverflowError, match="can't convert negative int to unsigned"):
        check_u64(-1)
    with pytest.raises(TypeError, match="'float' object cannot be interpreted as an integer"):
        Value.set_count(1.0)  # type: ignore[arg-type]


def test_server_names_are_strings() -> None:
    assert not is_valid_server_name(None)
    assert not is_valid_server_name(b"abc")


_NAMES = st.text(st.characters(max_codepoint=0x2FF, blacklist_categories=["Cs"]), max_size=8) | (
    st.sampled_from(["site_id", "atlas", "x" * 200, "a b", "a/b", 'a"b', "a\\b", "{", "é", ""])
)


@given(st.dictionaries(_NAMES, st.lists(_NAMES, max_size=3).map(tuple), max_size=4))
def test_a_meta_json_judged_plain_has_only_plain_names(meta: dict[str, tuple[str, ...]]) -> None:
    # Sending a built record skips the name checks of a meta whose JSON is judged plain, so
    # that judgement must never pass a name the per-name rule would not.
    plain_names = all(
        PLAIN_NAME.fullmatch(key) and all(PLAIN_NAME.fullmatch(v) for v in values)
        for key, values in meta.items()
    )
    text = encode(meta)
    if is_plain_meta_json(text):
        assert plain_names, text
    elif plain_names:
        assert len(text) > 258, text  # only a long meta is checked name by name


@given(
    st.lists(
        st.dictionaries(_NAMES, st.lists(_NAMES, max_size=3).map(tuple), max_size=4), max_size=6
    )
)
def test_metas_judged_plain_together_are_each_plain(
    metas: list[dict[str, tuple[str, ...]]],
) -> None:
    # Sending a batch judges the JSON of all its metas at once; that must agree with judging
    # each one, except that it may send a batch of plain metas name by name.
    texts = [encode(meta) for meta in metas]
    each = all(is_plain_meta_json(text) for text in texts)
    if are_plain_metas_json(texts):
        assert each, texts
    if each:
        assert are_plain_metas_json(texts), texts


def test_braces_in_one_meta_are_not_balanced_by_another() -> None:
    plain = encode({"site": ("a",)})
    assert are_plain_metas_json([plain, plain])
    assert not are_plain_metas_json([plain, encode({"site": ("}{",)})])
    assert not are_plain_metas_json([encode({"a": ("x",), "": ("y",)})])
    assert not are_plain_metas_json([plain, encode({"k": ("x" * 257,)})])


def test_a_bad_meta_name_is_still_refused_when_sent() -> None:
    start = dt.datetime(2022, 1, 1, tzinfo=dt.UTC)
    for bad in ("a/b", 'a"b', "", "x" * 257):
        record = Record("r", start).with_meta(Meta().insert("site", [bad]))
        with pytest.raises(ValidationError):
            record_add_body(record)
