"""The parts of a record: :class:`Meta`, :class:`Component` and :class:`Score`.

Score and Component *are* wire structs: msgspec Structs with the fields of the generated
``Score`` and ``Component`` (:mod:`pyauditor_api.wire`), which msgspec decodes straight from a
``GET /records`` answer and encodes straight into request bodies, with no object of ours in
between.  Their fields are read by C code (``score.name``, ``component.amount``); what has to
be computed or copied is a property.  They are frozen (python-auditor's attributes are read-only)
and not tracked by the cyclic garbage collector (``gc=False``: they cannot form cycles).

Scores never change, so they are shared freely: ``component.scores`` is a new list of the same
Score objects.  A Component does change (:meth:`Component.with_score` adds to it, as
python-auditor's does), so a record keeps its own copy of each component it is given and hands
out copies; the copies are made by msgspec in C.  A :class:`Meta` handed out by a getter shares
the record's dict until it is first changed (copy on write).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, NoReturn, TypeVar, final

import msgspec

from ._validation import (
    KNOWN_PLAIN,
    MAX_AMOUNT,
    check_amount,
    check_name,
    check_score_value,
    check_str,
    check_str_list,
    is_plain,
    type_error,
)
from ._wire import exact_float

__all__ = [
    "Component",
    "Meta",
    "MetaData",
    "Score",
    "appended",
    "components_equal",
    "copy_component",
    "new_component",
    "new_score",
    "scores_close",
]

MetaData = dict[str, tuple[str, ...]]
"""How a record keeps its meta: tuples, so a dict can be shared (see Meta)."""

_new = object.__new__
_astuple = msgspec.structs.astuple
_T = TypeVar("_T")
_known = KNOWN_PLAIN
_replace = msgspec.structs.replace
_set = msgspec.structs.force_setattr
_EXPONENT_FROM = 1e16  # see _wire.exact_float
# python-auditor compares score values with f64::EPSILON tolerances (see Score.__eq__).
_EPSILON = 2.220446049250313e-16
_SQRT_EPSILON = math.sqrt(_EPSILON)


def _no_subclass(name: str) -> NoReturn:
    # Internals rely on exact types (fast ``type(x) is`` checks), and python-auditor's classes
    # cannot be subclassed either.
    raise TypeError(f"type '{name}' is not an acceptable base type")


def _close(a: float, b: float) -> bool:
    difference = abs(a - b)
    return difference < _EPSILON or difference < max(abs(a), abs(b)) * _SQRT_EPSILON


# --- packs -------------------------------------------------------------------------------------
# The scores of a component and the components of a record built here are kept in "packs":
# frozen, array-like msgspec Structs of one to four items that msgspec writes as JSON arrays,
# as it writes tuples.  Unlike a tuple, a pack is not allocated by the cyclic garbage collector
# (gc=False), so building records adds nothing to its counts: with tuples, building 100k
# production records started about 260 young collections and a full one (0.07 s, scanning
# everything the program holds), where python-auditor, whose records live in Rust, starts
# none.  A pack iterates and has a length like the tuple it stands for; a record from a server,
# and a fifth item on, use tuples.


class _Pack(msgspec.Struct, array_like=True, frozen=True, gc=False):
    """Base of the packs: iteration and length of the tuple it stands for."""

    def __iter__(self) -> Iterator[Any]:
        return iter(_astuple(self))

    def __len__(self) -> int:
        return len(self.__struct_fields__)


class _Pack1(_Pack, array_like=True, frozen=True, gc=False):
    a: Any

    def plus(self, item: Any) -> _Pack2:
        return _Pack2(self.a, item)


class _Pack2(_Pack, array_like=True, frozen=True, gc=False):
    a: Any
    b: Any

    def plus(self, item: Any) -> _Pack3:
        return _Pack3(self.a, self.b, item)


class _Pack3(_Pack, array_like=True, frozen=True, gc=False):
    a: Any
    b: Any
    c: Any

    def plus(self, item: Any) -> _Pack4:
        return _Pack4(self.a, self.b, self.c, item)


class _Pack4(_Pack, array_like=True, frozen=True, gc=False):
    a: Any
    b: Any
    c: Any
    d: Any

    def plus(self, item: Any) -> tuple[Any, ...]:
        return (self.a, self.b, self.c, self.d, item)


def appended(items: Sequence[_T] | None, item: _T) -> Sequence[_T]:
    """``items`` (a tuple, a pack or None) with ``item`` added at the end: a new pack while
    one fits and ``items`` is not a tuple already."""
    if items.__class__ is tuple or items is None:
        return (*items, item) if items else _Pack1(item)  # type: ignore[return-value]
    return items.plus(item)  # type: ignore[attr-defined, no-any-return]


class _ScoreType(msgspec.StructMeta):
    """Builds Scores the way python-auditor does: ``Score(name, value)``, checked.

    A Struct cannot define ``__init__``; msgspec's own constructor (``new_score``) is for
    values that are known to be valid, and for decoding.
    """

    def __call__(cls, name: str, value: float) -> Score:
        if type(name) is not str or (name not in _known and not is_plain(name)):
            name = check_name(name, "score name")
        if type(value) is not float or not 0.0 <= value < _EXPONENT_FROM:
            value = exact_float(check_score_value(value))
        return _replace(_SCORE, name=name, _value=value)


@final
class Score(msgspec.Struct, frozen=True, gc=False, metaclass=_ScoreType):
    """A named performance figure of a :class:`Component`, e.g. its HEPSPEC06 value.

    Scores relate components of the same kind to each other: for CPUs, the HEPSPEC06 score of
    the machine a job ran on.  A score is immutable.

    Args:
        name: The score's name, e.g. ``"HEPSPEC06"``.  Not blank, at most 256 characters, none
            of ``/ ( ) " < > \\ { }`` (see :func:`pyauditor.allow_forbidden_characters`).
        value: A finite number ``>= 0``; anything :class:`float` accepts except a string (int,
            ``Decimal``, ``Fraction``, ...).  Stored as a float.

    Raises:
        ValidationError: the name or value breaks a rule (NaN and infinity included, which
            python-auditor would silently send as ``null``).
        TypeError: ``name`` is not a str or ``value`` is not a real number.
        OverflowError: ``value`` is an int too large for a float.

    Example::

        score = Score("HEPSPEC06", 9.2)
        Component("cpu", 8).with_score(score)

    Equality: names equal and values equal within a relative tolerance of about 1.5e-8
    (python-auditor's rule: a record fetched back from a server compares equal to the one that
    was sent even if a float lost its last bits on the way).  Scores are unhashable.
    """

    name: str
    """The score's name."""
    # A value msgspec would not write as serde_json does is stored as _wire.ExactFloat (a
    # float subclass), hence the property.
    _value: Annotated[float, msgspec.Meta(ge=0)] = msgspec.field(name="value")
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    if TYPE_CHECKING:  # the constructor is _ScoreType.__call__

        def __init__(self, name: str, value: float) -> None: ...

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Score")

    @property
    def value(self) -> float:
        """The score's value (a float)."""
        value = self._value
        return value if value.__class__ is float else float(value)

    def __eq__(self, other: object) -> bool:
        if type(other) is not Score:
            return NotImplemented
        return self.name == other.name and _close(self._value, other._value)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self) -> str:
        return f"Score(name={self.name!r}, value={self.value!r})"

    def __copy__(self) -> Score:
        return self

    def __deepcopy__(self, memo: dict[int, Any]) -> Score:
        return self

    def __reduce__(self) -> tuple[Any, ...]:
        return (Score, (self.name, self.value))


_SCORE: Score = msgspec.StructMeta.__call__(Score, "", 0.0)


def new_score(name: str, value: float) -> Score:
    """A Score of values known to be valid (from a server, or checked already)."""
    return _replace(_SCORE, name=name, _value=value)


def scores_close(a: tuple[Score, ...], b: tuple[Score, ...]) -> bool:
    """Whether two score tuples are equal under python-auditor's rule (see Score)."""
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if x.name != y.name or not _close(x._value, y._value):
            return False
    return True


class _ComponentType(msgspec.StructMeta):
    """Builds Components the way python-auditor does: ``Component(name, amount)``, checked."""

    def __call__(cls, name: str, amount: int) -> Component:
        if type(name) is not str or (name not in _known and not is_plain(name)):
            name = check_name(name, "component name")
        if type(amount) is not int or not 0 <= amount <= MAX_AMOUNT:
            amount = check_amount(amount)
        return _replace(_COMPONENT, name=name, amount=amount)


@final
class Component(msgspec.Struct, frozen=True, gc=False, metaclass=_ComponentType):
    """One accounted component of a record: CPU cores, memory, disk, GPUs, ...

    A component has a ``name``, an ``amount`` (how many or how much was used) and any number of
    :class:`Score` objects.

    Args:
        name: The component's name, e.g. ``"cpu"``.  Not blank, at most 256 characters, none of
            ``/ ( ) " < > \\ { }`` (see :func:`pyauditor.allow_forbidden_characters`).
        amount: An integer from 0 to 2**63-1.

    Raises:
        ValidationError: the name is invalid or the amount is negative.
        TypeError: ``name`` is not a str or ``amount`` is not an integer.
        OverflowError: ``amount`` is 2**63 or larger.

    Example::

        cpu = Component("cpu", 8).with_score(Score("HEPSPEC06", 9.2))
        record.with_component(cpu)

    Equality compares name, amount and the scores in order.  Components are unhashable.
    """

    name: str
    """The component's name."""
    amount: Annotated[int, msgspec.Meta(ge=0, le=MAX_AMOUNT)]
    """The component's amount."""
    # Replaced (never changed in place) by with_score, so copies of a component share it.  A
    # tuple as decoded, or a pack (see appended) once with_score added to it.
    _scores: tuple[Score, ...] = msgspec.field(name="scores")
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    if TYPE_CHECKING:  # the constructor is _ComponentType.__call__

        def __init__(self, name: str, amount: int) -> None: ...

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Component")

    def with_score(self, score: Score) -> Component:
        """Attach a score to the component and return the component itself (not a copy).

        Call it several times to attach several scores; their order is kept.

        Args:
            score: The score to attach (scores are immutable, so nothing needs copying).

        Example::

            Component("cpu", 8).with_score(Score("HEPSPEC06", 9.2)).with_score(Score("HS23", 10.1))
        """
        if type(score) is not Score:
            raise type_error(score, "Score")
        _set(self, "_scores", appended(self._scores, score))
        return self

    @property
    def scores(self) -> list[Score]:
        """A new list of the component's scores, in the order they were attached."""
        return [*self._scores]

    def __eq__(self, other: object) -> bool:
        if type(other) is not Component:
            return NotImplemented
        return _components_equal(self, other)

    def __ne__(self, other: object) -> bool:
        equal = self.__eq__(other)
        return equal if equal is NotImplemented else not equal

    def __repr__(self) -> str:
        return f"Component(name={self.name!r}, amount={self.amount!r}, scores={self.scores!r})"

    # __copy__ is msgspec's (in C): the copy shares the scores tuple, which is never changed.

    def __deepcopy__(self, memo: dict[int, Any]) -> Component:
        return _replace(self)

    def __reduce__(self) -> tuple[Any, ...]:
        return (_component_from_state, (self.name, self.amount, self.scores))


_COMPONENT: Component = msgspec.StructMeta.__call__(Component, "", 0, ())

copy_component: Callable[[Component], Component] = _replace
"""``copy_component(c)``: a copy of ``c``, sharing its scores tuple (which is never changed).
msgspec's ``replace`` without changes, in C: ``map(copy_component, ...)`` runs no Python code."""


def new_component(name: str, amount: int, scores: tuple[Score, ...]) -> Component:
    """A Component of values known to be valid (from a server, or checked already)."""
    return _replace(_COMPONENT, name=name, amount=amount, _scores=scores)


def _component_from_state(name: str, amount: int, scores: list[Score]) -> Component:
    component = Component(name, amount)
    for score in scores:
        component.with_score(score)
    return component


def _components_equal(a: Component, b: Component) -> bool:
    if a is b:
        return True
    return a.name == b.name and a.amount == b.amount and scores_close(a._scores, b._scores)


def components_equal(a: tuple[Component, ...], b: tuple[Component, ...]) -> bool:
    """Whether two component tuples are equal under python-auditor's rule."""
    return len(a) == len(b) and all(_components_equal(x, y) for x, y in zip(a, b, strict=True))


def _meta_string(value: object, field: str) -> str:
    # Only the type and lone surrogates are checked when meta is built (python-auditor cannot
    # even accept a surrogate); the name rules apply when the record is sent, as there.
    text = check_str(value)
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError:
            check_name(text, field)  # raises, naming the lone surrogate
    return text


@final
class Meta:
    """Free-form metadata of a record: a mapping of names to lists of names.

    Typical keys are ``site_id``, ``user_id``, ``group_id`` or ``queue``.  Lists keep their
    order and may be empty or hold duplicates.

    Keys and values are checked when the record is sent or queued (as python-auditor does), and
    by :meth:`Record.validate`: not blank, at most 256 characters, none of
    ``/ ( ) " < > \\ { }`` (see :func:`pyauditor.allow_forbidden_characters`).

    Example::

        meta = Meta().insert("site_id", ["site1"]).insert("group_id", ["atlas", "atlas-prod"])
        record.with_meta(meta)
        meta.get("site_id")        # ['site1']
        meta.get("missing")        # None

    Equality ignores the order of keys and respects the order of each key's values.  Meta is
    unhashable.  Like python-auditor's Meta it has no ``len()`` (an empty Meta is truthy, so
    ``if record.meta:`` still means "has meta"); use :meth:`to_dict` to inspect it.
    """

    # _d may be shared with a record's decoded meta (Record.meta); _shared says so, and the
    # first insert() then copies it.  The values are tuples, so a shallow copy is a whole one.
    __slots__ = ("_d", "_shared")
    _d: MetaData
    _shared: bool
    __hash__: ClassVar[None] = None  # type: ignore[assignment]

    def __init__(self) -> None:
        self._d = {}
        self._shared = False

    def __init_subclass__(cls, **kwargs: Any) -> NoReturn:
        _no_subclass("Meta")

    @classmethod
    def _wrap(cls, data: Mapping[str, Sequence[str]]) -> Meta:
        meta = _new(cls)
        meta._d = {key: tuple(values) for key, values in data.items()}
        meta._shared = False
        return meta

    def insert(self, key: str, value: list[str]) -> Meta:
        """Set ``key`` to the list ``value`` (replacing an earlier one) and return this Meta.

        The list is copied, so changing it afterwards does not change the Meta.

        Args:
            key: The key.
            value: A list or tuple of str.  A bare ``str`` is rejected, as in python-auditor,
                because it would be taken for a list of its characters: write ``["site1"]``.

        Raises:
            TypeError: ``key`` is not a str, ``value`` is not a sequence of str.
            ValidationError: a string contains a lone surrogate (it could never be sent).

        Example::

            Meta().insert("site_id", ["site1"])
        """
        if type(key) is not str or not key.isascii():
            key = _meta_string(key, "meta key")
        if type(value) is list or type(value) is tuple:  # type: ignore[comparison-overlap]
            values = tuple(value)
            # One C call checks every item: join fails on a non-str, and ASCII text can hold
            # no lone surrogate.
            try:
                ascii_only = "".join(values).isascii()
            except TypeError:
                ascii_only = False
            if not ascii_only:
                values = tuple([_meta_string(item, "meta value") for item in values])
        else:
            values = tuple([_meta_string(item, "meta value") for item in check_str_list(value)])
        if self._shared:
            self._d = self._d.copy()
            self._shared = False
        self._d[key] = values
        return self

    def get(self, key: str) -> list[str] | None:
        """Return a copy of the list stored under ``key``, or ``None`` if there is none.

        Example::

            Meta().insert("site_id", ["site1"]).get("site_id")   # ['site1']
        """
        # [*values] and __class__: no global lookups (an accounting report calls this for
        # every key of every record).
        if key.__class__ is not str:
            key = check_str(key)
        values = self._d.get(key)
        return None if values is None else [*values]

    def to_dict(self) -> dict[str, list[str]]:
        """Return a new ``dict`` of every key and (a copy of) its list, in insertion order."""
        return {key: list(values) for key, values in self._d.items()}

    def __eq__(self, other: object) -> bool:
        if type(other) is not Meta:
            return NotImplemented
        return self._d == other._d

    def __ne__(self, other: object) -> bool:
        if type(other) is not Meta:
            return NotImplemented
        return self._d != other._d

    def __repr__(self) -> str:
        return f"Meta({self.to_dict()!r})"

    def __copy__(self) -> Meta:
        return meta_of(self._d)

    def __deepcopy__(self, memo: dict[int, Any]) -> Meta:
        return meta_of(self._d)

    def __reduce__(self) -> tuple[Any, ...]:
        return (Meta._wrap, (self.to_dict(),))


def meta_of(data: MetaData) -> Meta:
    """A Meta sharing ``data`` until it is first changed."""
    meta = _new(Meta)
    meta._d = data
    meta._shared = True
    return meta
