"""An embedded AUDITOR-compatible server for tests, demos and plugin authors.

:class:`AuditorTestServer` serves AUDITOR 0.11's REST API over real HTTP (and HTTPS with
mandatory client certificates) from background threads, backed by SQLite.  It reproduces the
real server's status codes, bodies, query grammar and quirks, and it can misbehave on purpose
(:meth:`AuditorTestServer.inject`, :meth:`AuditorTestServer.down`) to test how clients cope.
With TLS it can also enforce AUDITOR's role-based access control (:class:`RbacConfig`:
policies keyed by the client certificate's CN, with AUDITOR 0.11's ``403`` answers and
quirks).

It is built to survive hostile clients and exhausted machines: a bounded pool of worker
threads, a deadline for every request (``408``), ``503`` when saturated, a ``400`` for
ambiguous framing, and an accept loop that outlives any error.

Three ways to run it:

* ``with AuditorTestServer() as server: ...`` (``server.url``), in sync or async code;
* the pytest fixtures ``auditor_server`` and ``auditor_server_factory`` (installed as a
  pytest plugin with pyauditor);
* ``python -m pyauditor.testing --port 8000``.
"""

from __future__ import annotations

from ._faults import Action, Close, Delay, Fault, RecordsFormat, Reset, Respond, Truncate
from ._http import Exchange
from ._rbac import DEFAULT_BASE_POLICIES, DataAccessRule, RbacConfig
from ._server import AuditorTestServer, LoggedRequest, Outage

__all__ = [
    "DEFAULT_BASE_POLICIES",
    "Action",
    "AuditorTestServer",
    "Close",
    "DataAccessRule",
    "Delay",
    "Exchange",
    "Fault",
    "LoggedRequest",
    "Outage",
    "RbacConfig",
    "RecordsFormat",
    "Reset",
    "Respond",
    "Truncate",
]
