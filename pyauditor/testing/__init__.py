"""An embedded AUDITOR-compatible server for tests, demos and plugin authors.

:class:`AuditorTestServer` serves AUDITOR 0.11's REST API over real HTTP (and HTTPS with
mandatory client certificates) from background threads, backed by SQLite.  It reproduces the
real server's status codes, bodies, query grammar and quirks, and it can misbehave on purpose
(:meth:`AuditorTestServer.inject`, :meth:`AuditorTestServer.down`) to test how clients cope.

Three ways to run it:

* ``with AuditorTestServer() as server: ...`` (``server.url``), in sync or async code;
* the pytest fixtures ``auditor_server`` and ``auditor_server_factory`` (installed as a
  pytest plugin with pyauditor);
* ``python -m pyauditor.testing --port 8000``.
"""

from __future__ import annotations

from ._faults import Action, Close, Delay, Fault, RecordsFormat, Reset, Respond, Truncate
from ._http import Exchange
from ._server import AuditorTestServer, LoggedRequest, Outage

__all__ = [
    "Action",
    "AuditorTestServer",
    "Close",
    "Delay",
    "Exchange",
    "Fault",
    "LoggedRequest",
    "Outage",
    "RecordsFormat",
    "Reset",
    "Respond",
    "Truncate",
]
