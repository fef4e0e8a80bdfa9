from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="TimeOperators")


@_attrs_define
class TimeOperators:
    """Comparison operators on a timestamp; several are ANDed."""

    gt: datetime.datetime | Unset = UNSET
    """ A timestamp in a request: an RFC 3339 date-time with an offset, converted to UTC and
    stored with microsecond precision.  The server also accepts chrono's relaxed forms,
    which `format: date-time` does not describe: `t` or a space instead of `T`, `UTC` or
    `+HHMM` as the offset, any number of fraction digits.  Clients should send strict RFC
    3339.
     """
    lt: datetime.datetime | Unset = UNSET
    """ A timestamp in a request: an RFC 3339 date-time with an offset, converted to UTC and
    stored with microsecond precision.  The server also accepts chrono's relaxed forms,
    which `format: date-time` does not describe: `t` or a space instead of `T`, `UTC` or
    `+HHMM` as the offset, any number of fraction digits.  Clients should send strict RFC
    3339.
     """
    gte: datetime.datetime | Unset = UNSET
    """ A timestamp in a request: an RFC 3339 date-time with an offset, converted to UTC and
    stored with microsecond precision.  The server also accepts chrono's relaxed forms,
    which `format: date-time` does not describe: `t` or a space instead of `T`, `UTC` or
    `+HHMM` as the offset, any number of fraction digits.  Clients should send strict RFC
    3339.
     """
    lte: datetime.datetime | Unset = UNSET
    """ A timestamp in a request: an RFC 3339 date-time with an offset, converted to UTC and
    stored with microsecond precision.  The server also accepts chrono's relaxed forms,
    which `format: date-time` does not describe: `t` or a space instead of `T`, `UTC` or
    `+HHMM` as the offset, any number of fraction digits.  Clients should send strict RFC
    3339.
     """
    equals: datetime.datetime | Unset = UNSET
    """ A timestamp in a request: an RFC 3339 date-time with an offset, converted to UTC and
    stored with microsecond precision.  The server also accepts chrono's relaxed forms,
    which `format: date-time` does not describe: `t` or a space instead of `T`, `UTC` or
    `+HHMM` as the offset, any number of fraction digits.  Clients should send strict RFC
    3339.
     """

    def to_dict(self) -> dict[str, Any]:
        gt: str | Unset = UNSET
        if not isinstance(self.gt, Unset):
            gt = self.gt.isoformat()

        lt: str | Unset = UNSET
        if not isinstance(self.lt, Unset):
            lt = self.lt.isoformat()

        gte: str | Unset = UNSET
        if not isinstance(self.gte, Unset):
            gte = self.gte.isoformat()

        lte: str | Unset = UNSET
        if not isinstance(self.lte, Unset):
            lte = self.lte.isoformat()

        equals: str | Unset = UNSET
        if not isinstance(self.equals, Unset):
            equals = self.equals.isoformat()

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if gt is not UNSET:
            field_dict["gt"] = gt
        if lt is not UNSET:
            field_dict["lt"] = lt
        if gte is not UNSET:
            field_dict["gte"] = gte
        if lte is not UNSET:
            field_dict["lte"] = lte
        if equals is not UNSET:
            field_dict["equals"] = equals

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        _gt = d.pop("gt", UNSET)
        gt: datetime.datetime | Unset
        if isinstance(_gt, Unset):
            gt = UNSET
        else:
            gt = datetime.datetime.fromisoformat(_gt)

        _lt = d.pop("lt", UNSET)
        lt: datetime.datetime | Unset
        if isinstance(_lt, Unset):
            lt = UNSET
        else:
            lt = datetime.datetime.fromisoformat(_lt)

        _gte = d.pop("gte", UNSET)
        gte: datetime.datetime | Unset
        if isinstance(_gte, Unset):
            gte = UNSET
        else:
            gte = datetime.datetime.fromisoformat(_gte)

        _lte = d.pop("lte", UNSET)
        lte: datetime.datetime | Unset
        if isinstance(_lte, Unset):
            lte = UNSET
        else:
            lte = datetime.datetime.fromisoformat(_lte)

        _equals = d.pop("equals", UNSET)
        equals: datetime.datetime | Unset
        if isinstance(_equals, Unset):
            equals = UNSET
        else:
            equals = datetime.datetime.fromisoformat(_equals)

        time_operators = cls(
            gt=gt,
            lt=lt,
            gte=gte,
            lte=lte,
            equals=equals,
        )

        return time_operators
