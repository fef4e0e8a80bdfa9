"""AUDITOR 0.11's role-based access control: casbin policies keyed by client-certificate CN.

AUDITOR runs an actix middleware in front of every route (``middleware.rs``) and a meta rewrite
inside ``GET /records`` (``Filters::enforce_meta_filtering``).  Both are reproduced here with
their quirks; ``auditor-server-0.11.md`` §8 in the project's reference documents them:

* RBAC runs only for requests whose *scheme* is ``https`` -- taken from the client-controlled
  ``Forwarded: proto=`` and ``X-Forwarded-Proto`` headers before the listener -- and only when
  the "enforce" flag is set, which AUDITOR 0.11 actually reads from
  ``ignore_record_exists_error`` (both are a ``web::Data<bool>``; the second replaces the
  first);
* the policy model is ``g(r.sub, p.sub) && keyMatch(r.obj, p.obj) && r.act == p.act`` over the
  raw request path and method; the default policies name ``/healthcheck`` although the route
  is ``/health_check``, and run before routing (unknown paths are ``403``, not ``404``);
* meta policies are global, not per CN; a reader allowed two values of a key only sees records
  holding both; a ``dnc`` filter lifts the restriction;
* a query the middleware cannot parse, and a requested meta key that has no policy entry of its
  own (a policy key with a ``*``), make AUDITOR panic: the connection is dropped without an
  answer (:class:`Panic`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ._http import HttpRequest
from ._names import is_valid_name
from ._qs import Filters, MetaFilter, QueryError, parse_rbac_meta

__all__ = [
    "DEFAULT_BASE_POLICIES",
    "DataAccessRule",
    "Enforcer",
    "MetaDenied",
    "Panic",
    "RbacConfig",
    "enforce_meta_filtering",
    "request_scheme",
]

DEFAULT_BASE_POLICIES: tuple[tuple[str, str, str], ...] = (
    ("monitoring_role", "/metrics", "GET"),
    ("write_access_base", "/record", "POST"),
    ("write_access_base", "/record", "PUT"),
    ("write_access_base", "/records", "POST"),
    ("write_access_base", "/healthcheck", "GET"),
    ("read_access_base", "/records", "GET"),
    ("read_access_base", "/record/*", "GET"),
    ("read_access_base", "/healthcheck", "GET"),
)
"""AUDITOR's default ``rbac_config.base_policies``: ``(role, path pattern, method)``.

The health check is listed as ``/healthcheck``, so with RBAC enforced ``GET /health_check``
over HTTPS is ``403`` for everybody, as in AUDITOR."""

_MAX_ROLE_DEPTH = 10  # casbin's default role manager


class Panic(Exception):
    """AUDITOR would panic here: the connection is dropped without an answer."""


class MetaDenied(Exception):
    """``enforce_meta_filtering`` refused the request: ``500 {"error": <message>}``."""


def _strings(value: object, what: str) -> tuple[str, ...]:
    if isinstance(value, str) or not isinstance(value, Sequence):
        raise TypeError(f"{what} must be a sequence of str, got {value!r}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise TypeError(f"{what} must hold str, got {item!r}")
    return items


@dataclass(frozen=True)
class DataAccessRule:
    """One entry of AUDITOR's ``rbac_config.data_access_rules``.

    Each ``(key, value)`` of ``meta_info`` becomes a *global* meta policy (every CN's meta
    filters are restricted by all of them, not only ``reader_cn``'s), and ``reader_cn`` gets
    read access.

    Args:
        reader_cn: A client-certificate CN that may read records.
        meta_info: Meta key -> the values readers may filter on (and are restricted to).
    """

    reader_cn: str
    meta_info: Mapping[str, Sequence[str]]

    def __post_init__(self) -> None:
        if not isinstance(self.reader_cn, str):
            raise TypeError(f"reader_cn must be a str, got {self.reader_cn!r}")
        if not isinstance(self.meta_info, Mapping):
            raise TypeError(f"meta_info must be a mapping, got {self.meta_info!r}")
        info = {}
        for key, values in self.meta_info.items():
            if not isinstance(key, str):
                raise TypeError(f"meta_info keys must be str, got {key!r}")
            info[key] = _strings(values, f"meta_info[{key!r}]")
        object.__setattr__(self, "meta_info", info)


@dataclass(frozen=True)
class RbacConfig:
    """AUDITOR's ``rbac_config``: which client-certificate CNs may do what on the HTTPS listener.

    Example::

        RbacConfig(
            write_access_cn=["htcondor.collector"],
            read_access_cn=["apel.plugin"],
            data_access_rules=[DataAccessRule("apel.plugin", {"site_id": ["site1"]})],
        )

    Args:
        enforce_rbac: AUDITOR's ``enforce_rbac`` (its default there is false; here, giving a
            config means you want it).  Without it no policies are loaded, and an enforced
            request gets ``500 Enforcer not initialized``.
        base_policies: ``(role or CN, path pattern, method)`` triples; a ``*`` in the path is
            casbin's ``keyMatch`` wildcard.  Default: :data:`DEFAULT_BASE_POLICIES`.
        monitoring_role_cn: CNs given ``monitoring_role`` (``GET /metrics``).
        write_access_cn: CNs given ``write_access_base`` (``POST /record``, ``PUT /record``,
            ``POST /records``).
        read_access_cn: CNs given ``read_access_base`` (``GET /records``, ``GET /record/*``).
        data_access_rules: Meta restrictions, see :class:`DataAccessRule`.
    """

    enforce_rbac: bool = True
    base_policies: Sequence[tuple[str, str, str]] = DEFAULT_BASE_POLICIES
    monitoring_role_cn: Sequence[str] = ()
    write_access_cn: Sequence[str] = ()
    read_access_cn: Sequence[str] = ()
    data_access_rules: Sequence[DataAccessRule] = field(default=())

    def __post_init__(self) -> None:
        if not isinstance(self.enforce_rbac, bool):
            raise TypeError(f"enforce_rbac must be a bool, got {self.enforce_rbac!r}")
        if isinstance(self.base_policies, str) or not isinstance(self.base_policies, Sequence):
            raise TypeError(f"base_policies must be a sequence, got {self.base_policies!r}")
        policies = []
        for policy in self.base_policies:
            triple = _strings(policy, "a base policy")
            if len(triple) != 3:
                raise ValueError(f"a base policy is (subject, path, method), got {policy!r}")
            policies.append((triple[0], triple[1], triple[2]))
        object.__setattr__(self, "base_policies", tuple(policies))
        for name in ("monitoring_role_cn", "write_access_cn", "read_access_cn"):
            object.__setattr__(self, name, _strings(getattr(self, name), name))
        rules = tuple(self.data_access_rules)
        for rule in rules:
            if not isinstance(rule, DataAccessRule):
                raise TypeError(f"data_access_rules must hold DataAccessRule, got {rule!r}")
        object.__setattr__(self, "data_access_rules", rules)

    @classmethod
    def from_mapping(cls, data: object) -> RbacConfig:
        """Read AUDITOR's ``rbac_config`` section (parsed YAML or JSON) into a config.

        Keys: ``enforce_rbac``, ``base_policies`` (lists of three strings),
        ``monitoring_role_cn``, ``write_access_cn``, ``read_access_cn`` and
        ``data_access_rules`` (``{"reader_cn": ..., "meta_info": {key: [values]}}``).
        ``enforce_rbac`` defaults to true here (false in AUDITOR).

        Raises:
            ValueError: an unknown key (AUDITOR's ``deny_unknown_fields``).
            TypeError: a value of the wrong type.
        """
        if not isinstance(data, Mapping):
            raise TypeError(f"rbac_config must be a mapping, got {data!r}")
        known = {
            "enforce_rbac",
            "base_policies",
            "monitoring_role_cn",
            "write_access_cn",
            "read_access_cn",
            "data_access_rules",
        }
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown rbac_config key {unknown[0]!r}; known: {sorted(known)}")
        options = {key: value for key, value in data.items() if value is not None}
        if "base_policies" in options:
            policies = options["base_policies"]
            if not isinstance(policies, Sequence) or isinstance(policies, str):
                raise TypeError(f"base_policies must be a list, got {policies!r}")
            options["base_policies"] = [tuple(_strings(p, "a base policy")) for p in policies]
        if "data_access_rules" in options:
            rules = options["data_access_rules"]
            if not isinstance(rules, Sequence) or isinstance(rules, str):
                raise TypeError(f"data_access_rules must be a list, got {rules!r}")
            converted = []
            for rule in rules:
                if not isinstance(rule, Mapping) or set(rule) != {"reader_cn", "meta_info"}:
                    raise ValueError(
                        f"a data access rule has reader_cn and meta_info, got {rule!r}"
                    )
                converted.append(DataAccessRule(rule["reader_cn"], rule["meta_info"]))
            options["data_access_rules"] = converted
        return cls(**options)


def _key_match(key1: str, key2: str) -> bool:
    """casbin's ``keyMatch``: ``key2`` may end its significant part with ``*``.

    casbin-rs slices ``key1`` at ``key2``'s byte offset of the ``*``; Rust panics when that
    offset falls inside a multi-byte character of ``key1``.
    """
    star = key2.find("*")
    if star < 0:
        return key1 == key2
    raw1 = key1.encode()
    offset = len(key2[:star].encode())
    prefix = key2[:star].encode()
    if len(raw1) > offset:
        if raw1[offset] & 0xC0 == 0x80:
            raise Panic("byte index is not a char boundary")
        return raw1[:offset] == prefix
    return raw1 == prefix


class Enforcer:
    """The casbin enforcer AUDITOR builds from its ``rbac_config`` (policies and roles)."""

    def __init__(self, config: RbacConfig) -> None:
        policies: list[tuple[str, str, str]] = []
        roles: dict[str, list[str]] = {}

        def add_policy(policy: tuple[str, str, str]) -> None:
            if policy not in policies:  # casbin ignores a policy it already has
                policies.append(policy)

        def add_role(user: str, role: str) -> None:
            if role not in roles.setdefault(user, []):
                roles[user].append(role)

        for policy in config.base_policies:
            add_policy(policy)
        for cns, role in (
            (config.monitoring_role_cn, "monitoring_role"),
            (config.write_access_cn, "write_access_base"),
            (config.read_access_cn, "read_access_base"),
        ):
            for cn in cns:
                add_role(cn, role)
        for rule in config.data_access_rules:
            for key, values in rule.meta_info.items():
                for value in values:
                    add_policy(("meta", key, value))
                    add_role(rule.reader_cn, "read_access_base")
        self.policies = tuple(policies)
        self._roles = roles

    def _has_link(self, name: str, role: str) -> bool:
        if name == role:
            return True
        level = {name}
        for _ in range(_MAX_ROLE_DEPTH):
            level = {parent for user in level for parent in self._roles.get(user, ())}
            if role in level:
                return True
            if not level:
                break
        return False

    def enforce(self, subject: str, obj: str, action: str) -> bool:
        """``some(where (p.eft == allow))`` over every policy.

        Raises:
            Panic: casbin-rs would panic (see :func:`_key_match`).
        """
        return any(
            self._has_link(subject, p_sub) and _key_match(obj, p_obj) and action == p_act
            for p_sub, p_obj, p_act in self.policies
        )

    def meta_policies(self) -> dict[str, list[str]]:
        """``get_filtered_policy(0, ["meta"])`` as the middleware collects it: key -> values."""
        allowed: dict[str, list[str]] = {}
        for p_sub, key, value in self.policies:
            if p_sub == "meta":
                allowed.setdefault(key, []).append(value)
        return allowed

    def authorize(
        self, request: HttpRequest, path: str
    ) -> tuple[int, bytes] | dict[str, list[str]] | None:
        """The middleware for an enforced request.

        Returns:
            ``(403, message)`` to refuse it; otherwise the allowed meta values the route must
            apply (``None`` when there are no meta policies).

        Raises:
            Panic: the query cannot be parsed (``serde_qs::from_str(..).unwrap()``), or
                casbin-rs would panic.
        """
        subject = _subject(request)
        try:
            requested = parse_rbac_meta(request.query)
        except QueryError:
            raise Panic("unparseable query") from None
        allowed: dict[str, list[str]] | None = None
        if any(p_sub == "meta" for p_sub, _, _ in self.policies):
            for key, (contains, excludes) in (requested or {}).items():
                for value in (*(contains or ()), *(excludes or ())):
                    if not self.enforce("meta", key, value):
                        return 403, b"Access denied by RBAC policy"
            allowed = self.meta_policies()
        if not self.enforce(subject, path, request.method):
            return 403, b"Insufficient permissions"
        return allowed


def _subject(request: HttpRequest) -> str:
    """The casbin subject: the certificate's first CN (AUDITOR's fallbacks otherwise)."""
    if request.client_cn is None:
        return "no_cert"
    return request.client_cn or "missing"


def _unquote(value: str) -> str:
    return value.strip().lstrip('"').rstrip('"')


def request_scheme(request: HttpRequest) -> str:
    """actix-web's ``ConnectionInfo::scheme``: ``Forwarded: proto=``, then
    ``X-Forwarded-Proto``, then the listener.  Both headers are the client's to set."""
    for name, value in request.headers:
        if name.lower() != "forwarded" or not value.isascii():
            continue
        for group in value.split(";"):
            for pair in group.split(","):
                key, sep, item = pair.strip().partition("=")
                if sep and key.strip().lower() == "proto":
                    return _unquote(item)
    forwarded_proto = request.header("x-forwarded-proto")
    if forwarded_proto is not None and forwarded_proto.isascii():
        return forwarded_proto.split(",", 1)[0].strip()
    return "https" if request.tls else "http"


def enforce_meta_filtering(filters: Filters, allowed: dict[str, list[str]]) -> None:
    """``Filters::enforce_meta_filtering``: restrict ``filters.meta`` to the allowed values.

    AUDITOR walks the requested meta keys in ``HashMap`` order, which is random; they are
    walked in key order here.

    Raises:
        MetaDenied: AUDITOR's ``500`` answer (the message is its text).
        Panic: a requested key has no policy entry (``expect("meta_id does not exist")``), or
            a policy key or value is not a valid name (``ValidName::parse(..).unwrap()``).
    """
    if not allowed:
        raise MetaDenied("No meta IDs available for the user")
    if filters.meta is not None:
        for key, operator in sorted(filters.meta.items()):
            if operator.c is not None:
                for value in operator.c:
                    if key not in allowed:
                        raise Panic("meta_id does not exist")
                    if value not in allowed[key]:
                        raise MetaDenied(
                            f"Permission denied to access the site with the meta_id {key}"
                        )
                return
            if operator.dnc is not None:
                if key in allowed:
                    for value in allowed[key]:
                        if not is_valid_name(value):
                            raise Panic("ValidName::parse(..).unwrap()")
                    allowed[key] = [v for v in allowed[key] if v not in operator.dnc]
                if key not in allowed:
                    raise Panic("meta_id does not exist")
                if not allowed[key]:
                    raise MetaDenied("Permission denied to access the site with the meta_id")
                return
    for key, values in allowed.items():
        if not is_valid_name(key) or not all(is_valid_name(v) for v in values):
            raise Panic("ValidName::parse(..).unwrap()")
    meta = filters.meta if filters.meta is not None else {}
    for key, values in allowed.items():
        meta[key] = MetaFilter(c=list(values))
    filters.meta = meta
