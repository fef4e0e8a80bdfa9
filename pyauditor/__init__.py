"""pyauditor: a pure-Python client for AUDITOR, the accounting system of grid and HEP sites.

A drop-in replacement for python-auditor 0.11 (same import name, classes and methods), with typed
exceptions, streamed queries and a durable send queue that never loses a record.
"""

from ._builder import AuditorClientBuilder
from ._client import AuditorClient, AuditorClientBlocking
from ._errors import (
    APIConnectionError,
    APIStatusError,
    APITimeoutError,
    AuditorError,
    BadRequestError,
    ConfigurationError,
    NotFoundError,
    PayloadTooLargeError,
    QueueError,
    RecordExistsError,
    ResponseDecodeError,
    ResponseTooLargeError,
    ServerError,
    StreamDecodeError,
    ValidationError,
)
from ._parts import Component, Meta, Score
from ._query import ComponentQuery, MetaOperator, MetaQuery, Operator, QueryBuilder, SortBy, Value
from ._queue import DeadLetter, QueueStatus
from ._queued import QueuedAuditorClient, QueuedAuditorClientBlocking
from ._record import Record
from ._validation import allow_forbidden_characters, forbidden_characters_allowed
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuditorClient",
    "AuditorClientBlocking",
    "AuditorClientBuilder",
    "AuditorError",
    "BadRequestError",
    "Component",
    "ComponentQuery",
    "ConfigurationError",
    "DeadLetter",
    "Meta",
    "MetaOperator",
    "MetaQuery",
    "NotFoundError",
    "Operator",
    "PayloadTooLargeError",
    "QueryBuilder",
    "QueueError",
    "QueueStatus",
    "QueuedAuditorClient",
    "QueuedAuditorClientBlocking",
    "Record",
    "RecordExistsError",
    "ResponseDecodeError",
    "ResponseTooLargeError",
    "Score",
    "ServerError",
    "SortBy",
    "StreamDecodeError",
    "ValidationError",
    "Value",
    "__version__",
    "allow_forbidden_characters",
    "forbidden_characters_allowed",
]
