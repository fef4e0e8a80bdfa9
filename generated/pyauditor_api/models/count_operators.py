from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..types import UNSET, Unset

T = TypeVar("T", bound="CountOperators")


@_attrs_define
class CountOperators:
    """Comparison operators on a non-negative integer; several are ANDed."""

    gt: int | Unset = UNSET
    lt: int | Unset = UNSET
    gte: int | Unset = UNSET
    lte: int | Unset = UNSET
    equals: int | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        gt = self.gt

        lt = self.lt

        gte = self.gte

        lte = self.lte

        equals = self.equals

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
        gt = d.pop("gt", UNSET)

        lt = d.pop("lt", UNSET)

        gte = d.pop("gte", UNSET)

        lte = d.pop("lte", UNSET)

        equals = d.pop("equals", UNSET)

        count_operators = cls(
            gt=gt,
            lt=lt,
            gte=gte,
            lte=lte,
            equals=equals,
        )

        return count_operators
