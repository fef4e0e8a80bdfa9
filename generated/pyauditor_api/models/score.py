from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

T = TypeVar("T", bound="Score")


@_attrs_define
class Score:
    """A performance figure of a component, for example its HEPSPEC06 value."""

    name: str
    """ A valid name: not empty after removing leading and trailing Unicode White_Space, and at
    most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
    set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
    may hold several).  Stored verbatim.
     """
    value: float
    """ A finite number >= 0 (`-0.0` is accepted).  Integers are accepted and returned as floats (`10` comes back as
    `10.0`). """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        value = self.value

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "value": value,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        d = dict(src_dict)
        name = d.pop("name")

        value = d.pop("value")

        score = cls(
            name=name,
            value=value,
        )

        score.additional_properties = d
        return score

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
