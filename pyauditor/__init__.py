"""pyauditor: a pure-Python client for AUDITOR, the accounting system of grid and HEP sites.

A drop-in replacement for python-auditor 0.11 (same import name, classes and methods), with typed
exceptions, streamed queries and a durable send queue that never loses a record.
"""

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
    ServerError,
    StreamDecodeError,
    ValidationError,
)
from ._version import __version__

__all__ = [
    "APIConnectionError",
    "APIStatusError",
    "APITimeoutError",
    "AuditorError",
    "BadRequestError",
    "ConfigurationError",
    "NotFoundError",
    "PayloadTooLargeError",
    "QueueError",
    "RecordExistsError",
    "ResponseDecodeError",
    "ServerError",
    "StreamDecodeError",
    "ValidationError",
    "__version__",
]
