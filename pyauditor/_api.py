"""The operations every client offers, declared once for all four client classes.

Each public operation is written here a single time: its signature, its documentation and the
:class:`~pyauditor._operations.Plan` it runs.  A client class says only how it runs plans:

* an :class:`AsyncAPI` class gets each operation as a coroutine method
  (``async def add(self, record)``) that awaits ``self._call(plan)``; a :class:`SyncAPI` class
  as a plain method returning ``self._call(plan)``.  ``iter_records`` returns
  ``self._stream(stream)`` (an async or a plain iterator);
* a class that sets ``_delegate`` to an attribute name (the queued clients) forwards each
  operation to the client held in that attribute, by name.

So ``AuditorClient``, ``AuditorClientBlocking``, ``QueuedAuditorClient`` and
``QueuedAuditorClientBlocking`` cannot drift apart: same names, same parameters, same
documentation.  The methods are real functions installed on each class when it is created
(``inspect.signature``, ``help()``, pdoc and IDEs see them as written here); for type checkers the
descriptors below say what they return in each kind of class.
"""

from __future__ import annotations

import datetime as _dt
import inspect
import typing
from collections.abc import AsyncIterator, Callable, Coroutine, Iterable, Iterator
from typing import Any, ClassVar, Concatenate, Generic, ParamSpec, Self, TypeVar, overload

from . import _operations as ops
from ._operations import Driven, Plan, RecordStream
from ._record import Record

__all__ = ["AsyncAPI", "ReadAPI", "SyncAPI", "WriteAPI"]

_P = ParamSpec("_P")
_T = TypeVar("_T")


def _signature(declare: Callable[..., Any], returns: Any) -> inspect.Signature:
    hints = typing.get_type_hints(declare)
    signature = inspect.signature(declare)
    parameters = [
        p.replace(annotation=hints.get(p.name, p.annotation)) for p in signature.parameters.values()
    ]
    return signature.replace(parameters=parameters, return_annotation=returns)


def _describe(
    method: Callable[..., Any], owner: type, name: str, declare: Callable[..., Any], returns: Any
) -> Callable[..., Any]:
    method.__name__ = name
    method.__qualname__ = f"{owner.__qualname__}.{name}"
    method.__module__ = owner.__module__
    method.__doc__ = declare.__doc__
    method.__signature__ = _signature(declare, returns)  # type: ignore[attr-defined]
    method.__annotations__ = {
        **{
            p.name: p.annotation
            for p in method.__signature__.parameters.values()  # type: ignore[attr-defined]
            if p.annotation is not inspect.Parameter.empty
        },
        "return": returns,
    }
    return method


class _Declared:
    """What both kinds of operation share: the declaration, and forwarding by its name."""

    __slots__ = ("_declare",)

    def __init__(self, declare: Callable[..., Any]) -> None:
        self._declare = declare

    def _bound(self, obj: object) -> Any:
        if obj is None:
            return self
        # Client classes replace every operation by a method when they are created.
        raise TypeError(f"{type(obj).__name__} is not a client class (AsyncAPI or SyncAPI)")

    def _forwarder(self, target: str) -> Callable[..., Any]:
        """A method calling the same operation of the client held in ``target``."""
        declared = self._declare.__name__  # an alias forwards to the operation it names

        def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
            return getattr(getattr(self, target), declared)(*args, **kwargs)

        return method


class Operation(_Declared, Generic[_P, _T]):
    """A public operation whose result comes from one :class:`~pyauditor._operations.Plan`.

    ``derived``: the operation is another one in disguise (``get_started_since`` is an
    ``advanced_query``, see ``Plan.same_as``).  A forwarding client builds the plan itself, so
    that what happens at call time (checks, a deprecation warning) happens once and names the
    caller, and forwards the operation it is the same as.
    """

    __slots__ = ("_derived",)

    def __init__(
        self,
        declare: Callable[Concatenate[Any, _P], Plan[_T] | Driven[_T]],
        *,
        derived: bool = False,
    ) -> None:
        super().__init__(declare)
        self._derived = derived

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(
        self, obj: AsyncAPI, owner: type[Any] | None = None
    ) -> Callable[_P, Coroutine[Any, Any, _T]]: ...
    @overload
    def __get__(self, obj: SyncAPI, owner: type[Any] | None = None) -> Callable[_P, _T]: ...
    def __get__(self, obj: object, owner: type[Any] | None = None) -> Any:
        return self._bound(obj)

    def _method_for(self, owner: type[_Base], name: str) -> Callable[..., Any]:
        declare = self._declare
        declared = declare.__name__  # an alias forwards to the operation it names
        (returns,) = typing.get_args(typing.get_type_hints(declare)["return"])
        if returns is type(None):
            returns = None
        target = owner._delegate
        method: Callable[..., Any]
        if owner._asynchronous:
            if target is None:

                async def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
                    return await self._call(declare(self, *args, **kwargs))

            elif self._derived:

                async def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
                    name, arguments = _same_as(declare(self, *args, **kwargs))
                    return await getattr(getattr(self, target), name)(*arguments)

            else:

                async def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
                    return await getattr(getattr(self, target), declared)(*args, **kwargs)

        elif target is None:

            def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
                return self._call(declare(self, *args, **kwargs))

        elif self._derived:

            def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
                name, arguments = _same_as(declare(self, *args, **kwargs))
                return getattr(getattr(self, target), name)(*arguments)

        else:
            method = self._forwarder(target)
        return _describe(method, owner, name, declare, returns)


def _same_as(plan: Plan[Any]) -> tuple[str, tuple[Any, ...]]:
    assert plan.same_as is not None, "a derived operation's plan names what it is the same as"
    return plan.same_as


class RecordsOperation(_Declared, Generic[_P]):
    """A public operation that hands out records as they arrive (``iter_records``)."""

    __slots__ = ()

    def __init__(self, declare: Callable[Concatenate[Any, _P], RecordStream]) -> None:
        super().__init__(declare)

    @overload
    def __get__(self, obj: None, owner: type[Any] | None = None) -> Self: ...
    @overload
    def __get__(
        self, obj: AsyncAPI, owner: type[Any] | None = None
    ) -> Callable[_P, AsyncIterator[Record]]: ...
    @overload
    def __get__(
        self, obj: SyncAPI, owner: type[Any] | None = None
    ) -> Callable[_P, Iterator[Record]]: ...
    def __get__(self, obj: object, owner: type[Any] | None = None) -> Any:
        return self._bound(obj)

    def _method_for(self, owner: type[_Base], name: str) -> Callable[..., Any]:
        declare = self._declare
        target = owner._delegate
        returns = AsyncIterator[Record] if owner._asynchronous else Iterator[Record]
        method: Callable[..., Any]
        # Not a generator function: the arguments are checked when it is called, and the
        # records come straight from the shell's own iterator (no extra layer per record).
        if target is None:

            def method(self: Any, /, *args: Any, **kwargs: Any) -> Any:
                return self._stream(declare(self, *args, **kwargs))

        else:
            method = self._forwarder(target)
        return _describe(method, owner, name, declare, returns)


class _Base:
    """What :class:`AsyncAPI` and :class:`SyncAPI` share: installing the operations."""

    __slots__ = ()

    _delegate: ClassVar[str | None] = None
    """Attribute holding the client to forward every operation to; None: run plans here."""

    _asynchronous: ClassVar[bool]

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        seen: set[str] = set()
        for klass in cls.__mro__:
            for name, attribute in vars(klass).items():
                if name in seen:
                    continue
                seen.add(name)
                if isinstance(attribute, Operation | RecordsOperation) and name not in vars(cls):
                    setattr(cls, name, attribute._method_for(cls, name))


class AsyncAPI(_Base):
    """Base of the client classes whose operations are coroutines."""

    __slots__ = ()
    _asynchronous = True


class SyncAPI(_Base):
    """Base of the client classes whose operations block."""

    __slots__ = ()
    _asynchronous = False


def operation(
    declare: Callable[Concatenate[Any, _P], Plan[_T] | Driven[_T]],
) -> Operation[_P, _T]:
    """Declare a public operation (see the module docstring)."""
    return Operation(declare)


def derived_operation(declare: Callable[Concatenate[Any, _P], Plan[_T]]) -> Operation[_P, _T]:
    """Declare a public operation that is another one with other arguments (``Plan.same_as``)."""
    return Operation(declare, derived=True)


def records_operation(
    declare: Callable[Concatenate[Any, _P], RecordStream],
) -> RecordsOperation[_P]:
    """Declare a public operation that streams records."""
    return RecordsOperation(declare)


class ReadAPI:
    """The reads: every client sends them straight to the server."""

    __slots__ = ()

    @operation
    def health_check(self) -> Plan[bool]:
        """Return True if the server answers its health check with a 2xx status.

        Never raises: a refused connection, a timeout or an error status give False (after
        the retries reads get).
        """
        return ops.health_check()

    @operation
    def get(self) -> Plan[list[Record]]:
        """Return every record the server stores, ordered by stop time.

        For large results prefer :meth:`iter_records`, which does not hold them all in memory.
        """
        return ops.get()

    @derived_operation
    def get_started_since(self, timestamp: _dt.datetime) -> Plan[list[Record]]:
        """Return the records that started at or after ``timestamp`` (deprecated).

        Use :meth:`advanced_query` with ``start_time[gte]`` instead.  ``timestamp`` must be
        timezone-aware; it is converted to UTC.
        """
        return ops.since("get_started_since", "start_time", timestamp)

    @derived_operation
    def get_stopped_since(self, timestamp: _dt.datetime) -> Plan[list[Record]]:
        """Return the records that stopped at or after ``timestamp`` (deprecated).

        Use :meth:`advanced_query` with ``stop_time[gte]`` instead.  ``timestamp`` must be
        timezone-aware; it is converted to UTC.
        """
        return ops.since("get_stopped_since", "stop_time", timestamp)

    @operation
    def advanced_query(self, query_string: str) -> Plan[list[Record]]:
        """Return the records matching a query built with :class:`QueryBuilder`.

        Example::

            query = QueryBuilder().with_start_time(Operator().gte(Value.set_datetime(since))).build()
            records = await client.advanced_query(query)     # blocking clients: no await

        For large results prefer :meth:`iter_records`, which does not hold them all in memory.
        """
        return ops.advanced_query(query_string)

    @operation
    def get_single_record(self, record_id: str) -> Plan[Record]:
        """Return the record with this id (``GET /record/{record_id}``).

        The id is percent-encoded, so ids containing ``/``, ``?`` or ``#`` work.

        Raises:
            ValidationError: the id is empty, blank or otherwise not a name a record can have;
                nothing was sent.
            NotFoundError: the server has no record with this id.  AUDITOR answers a missing
                record with the same 500 as a database failure, so the client asks once more
                (``GET /records?record_id=...``) to tell them apart; not retried.
            ServerError: the server failed (retried first, as reads are).
            ResponseDecodeError: the answer is not a record.
        """
        return ops.get_single_record(record_id)

    get_one_record = get_single_record

    @records_operation
    def iter_records(
        self, query_string: str = "", *, total_timeout: float | None = None
    ) -> RecordStream:
        """Yield the records matching ``query_string`` one by one as they arrive.

        Memory stays bounded however large the result.  The client's timeout bounds the wait
        for each chunk rather than the whole result, so a long result is not cut off;
        ``total_timeout`` (seconds) bounds the whole stream too, the caller's time between
        records included.  Failures before the first record are retried like other reads;
        after it they raise (records already handed out stay valid).

        Example::

            async for record in client.iter_records(QueryBuilder().build()):   # async clients
                ...
            for record in client.iter_records(QueryBuilder().build()):         # blocking ones
                ...

        Raises:
            APITimeoutError: a chunk took longer than the timeout, or the whole stream longer
                than ``total_timeout``.
            StreamDecodeError: a record is malformed, or larger than ``max_record_size``.
        """
        return ops.iter_records(query_string, total_timeout=total_timeout)


class WriteAPI:
    """The writes of the direct clients (the queued clients queue them instead)."""

    __slots__ = ()

    @operation
    def add(self, record: Record) -> Plan[None]:
        """Store one record (``POST /record``).

        The rules for records the server holds already are ``bulk_insert``'s: on a server that
        reports duplicates as errors (AUDITOR's default) any stored id raises
        ``RecordExistsError``, as in python-auditor; a server configured with
        ``ignore_record_exists_error`` answers a duplicate with a warning, and the record is
        then read back: the very record sent is only logged (at WARNING), another record
        under its id raises ``RecordExistsError``.  A 2xx answer AUDITOR never sends (a
        proxy's page) counts as success only if the server holds the record, read back.

        Raises:
            ValidationError: the record (its meta) breaks a rule; nothing was sent.
            RecordExistsError: the server already has a record with this id (see above).
            ResponseDecodeError: a 2xx answer AUDITOR never sends, and the server does not
                hold the record.
            APIStatusError: any other error answer (python-auditor reports those as success).
            APIConnectionError: no answer (APITimeoutError after the timeout).
        """
        return ops.add(record)

    @operation
    def bulk_insert(self, records: Iterable[Record]) -> Driven[None]:
        """Store many records (``POST /records``), in requests under the 2 MiB limit.

        Every record is validated before anything is sent.  The batch planner that the queued
        clients and ``pyauditor send`` use too sends them: a record the server already holds
        does not keep the others from being stored (AUDITOR refuses a whole request for one
        duplicate, and with ``ignore_record_exists_error`` answers it with a warning while
        storing *nothing* of it), and a record the server refuses is narrowed down, so that
        every other record is stored.  When it returns, every record is stored.

        Raises:
            ValidationError: a record breaks a rule; nothing was sent.
            RecordExistsError: records whose ids the server already holds: with other content,
                or at all when the server reports duplicates as errors (AUDITOR's default; a
                server with ``ignore_record_exists_error`` has identical duplicates only
                logged).  Every other record is stored.
            APIStatusError: the server refused a record for good (400, 413); the others are
                stored.
            ResponseDecodeError: the server answered 2xx with a body AUDITOR never sends and
                does not hold the records it was sent (read back); the others are stored.
            APIConnectionError: the server stopped answering; records not yet sent are not
                stored.
            In each case ``error.records_stored`` is how many records this call stored.
        """
        return ops.bulk_insert(records)

    @operation
    def update(self, record: Record) -> Plan[None]:
        """Set the stop time of a stored record (``PUT /record``); only stop_time changes.

        AUDITOR answers an applied update with an empty 2xx; after any other 2xx answer (a
        proxy's page) the record is read back and must have the stop time sent.

        Raises:
            ValidationError: the record has no stop time or breaks a rule; nothing was sent.
            NotFoundError: the server has no record with this id.
            ResponseDecodeError: a 2xx answer AUDITOR never sends, and the server's record
                does not have the stop time sent.
            APIStatusError: any other error answer.
            APIConnectionError: no answer.
        """
        return ops.update(record)
