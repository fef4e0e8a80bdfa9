from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

T = TypeVar("T", bound="MetaFilter")


@_attrs_define
class MetaFilter:
    """`c`: values that must all be present; `dnc`: values that must all be absent."""

    c: list[str] | Unset = UNSET
    dnc: list[str] | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        c: list[str] | Unset = UNSET
        if not isinstance(self.c, Unset):
            c = self.c

        dnc: list[str] | Unset = UNSET
        if not isinstance(self.dnc, Unset):
            dnc = self.dnc

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update({})
        if c is not UNSET:
            field_dict["c"] = c
        if dnc is not UNSET:
            field_dict["dnc"] = dnc

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        c = cast(list[str], d.pop("c", UNSET))

        dnc = cast(list[str], d.pop("dnc", UNSET))

        meta_filter = cls(
            c=c,
            dnc=dnc,
        )

        meta_filter.additional_properties = d
        return meta_filter

    @property
    def additional_keys(self) -> list[str]:
        return list(self.additional_properties.keys())

    def __getitem__(self, key: str) -> Any:
        return self.additional_properties[key]

    def __setitem__(self, key: str, value: Any) -> None:
        self.additional_properties[key] = value

    def __delitem__(self, key: str) -> None:
        del self.additional_properties[key]

    def __contains__(self, key: str) -> bool:
        return key in self.additional_properties
