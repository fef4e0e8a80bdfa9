from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define

from ..models.sort_column import SortColumn, check_sort_column
from ..types import UNSET, Unset

T = TypeVar("T", bound="SortBy")


@_attrs_define
class SortBy:
    """Exactly one direction is meaningful; if both are given, `asc` wins."""

    asc: SortColumn | Unset = UNSET
    desc: SortColumn | Unset = UNSET

    def to_dict(self) -> dict[str, Any]:
        asc: str | Unset = UNSET
        if not isinstance(self.asc, Unset):
            asc = self.asc

        desc: str | Unset = UNSET
        if not isinstance(self.desc, Unset):
            desc = self.desc

        field_dict: dict[str, Any] = {}

        field_dict.update({})
        if asc is not UNSET:
            field_dict["asc"] = asc
        if desc is not UNSET:
            field_dict["desc"] = desc

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        _asc = d.pop("asc", UNSET)
        asc: SortColumn | Unset
        if isinstance(_asc, Unset):
            asc = UNSET
        else:
            asc = check_sort_column(_asc)

        _desc = d.pop("desc", UNSET)
        desc: SortColumn | Unset
        if isinstance(_desc, Unset):
            desc = UNSET
        else:
            desc = check_sort_column(_desc)

        sort_by = cls(
            asc=asc,
            desc=desc,
        )

        return sort_by
