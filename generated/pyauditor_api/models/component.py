from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.score import Score


T = TypeVar("T", bound="Component")


@_attrs_define
class Component:
    """One accounted component of a record (cores, memory, disk, ...)."""

    name: str
    """ A valid name: not empty after removing leading and trailing Unicode White_Space, and at
    most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
    set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
    may hold several).  Stored verbatim.
     """
    amount: int
    """ Written without fraction or exponent (`1.0` and `1e3` are rejected, although JSON Schema's `integer` admits
    them). """
    scores: list[Score]
    """ May be empty. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        name = self.name

        amount = self.amount

        scores = []
        for scores_item_data in self.scores:
            scores_item = scores_item_data.to_dict()
            scores.append(scores_item)

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "name": name,
                "amount": amount,
                "scores": scores,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.score import Score

        d = dict(src_dict)
        name = d.pop("name")

        amount = d.pop("amount")

        scores = []
        _scores = d.pop("scores")
        for scores_item_data in _scores:
            scores_item = Score.from_dict(scores_item_data)

            scores.append(scores_item)

        component = cls(
            name=name,
            amount=amount,
            scores=scores,
        )

        component.additional_properties = d
        return component

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
