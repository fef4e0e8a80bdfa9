from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

from ..types import UNSET, Unset

if TYPE_CHECKING:
    from ..models.component import Component
    from ..models.meta import Meta


T = TypeVar("T", bound="RecordUpdate")


@_attrs_define
class RecordUpdate:
    """The body of `PUT /record`.  Only `stop_time` is applied.  `components` is required (and
    validated) although it is ignored; `meta` and `start_time` are optional, validated and
    ignored.

    """

    record_id: str
    """ A valid name: not empty after removing leading and trailing Unicode White_Space, and at
    most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
    set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
    may hold several).  Stored verbatim.
     """
    components: list[Component]
    stop_time: datetime.datetime
    """ A timestamp in a request: an RFC 3339 date-time with an offset, converted to UTC and
    stored with microsecond precision.  The server also accepts chrono's relaxed forms,
    which `format: date-time` does not describe: `t` or a space instead of `T`, `UTC` or
    `+HHMM` as the offset, any number of fraction digits.  Clients should send strict RFC
    3339.
     """
    meta: Meta | None | Unset = UNSET
    start_time: datetime.datetime | None | Unset = UNSET
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.meta import Meta

        record_id = self.record_id

        components = []
        for components_item_data in self.components:
            components_item = components_item_data.to_dict()
            components.append(components_item)

        stop_time = self.stop_time.isoformat()

        meta: dict[str, Any] | None | Unset
        if isinstance(self.meta, Unset):
            meta = UNSET
        elif isinstance(self.meta, Meta):
            meta = self.meta.to_dict()
        else:
            meta = self.meta

        start_time: None | str | Unset
        if isinstance(self.start_time, Unset):
            start_time = UNSET
        elif isinstance(self.start_time, datetime.datetime):
            start_time = self.start_time.isoformat()
        else:
            start_time = self.start_time

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "record_id": record_id,
                "components": components,
                "stop_time": stop_time,
            }
        )
        if meta is not UNSET:
            field_dict["meta"] = meta
        if start_time is not UNSET:
            field_dict["start_time"] = start_time

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.component import Component
        from ..models.meta import Meta

        d = dict(src_dict)
        record_id = d.pop("record_id")

        components = []
        _components = d.pop("components")
        for components_item_data in _components:
            components_item = Component.from_dict(components_item_data)

            components.append(components_item)

        stop_time = datetime.datetime.fromisoformat(d.pop("stop_time"))

        def _parse_meta(data: object) -> Meta | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                meta_type_0 = Meta.from_dict(data)

                return meta_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Meta | None | Unset, data)

        meta = _parse_meta(d.pop("meta", UNSET))

        def _parse_start_time(data: object) -> datetime.datetime | None | Unset:
            if data is None:
                return data
            if isinstance(data, Unset):
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                start_time_type_0 = datetime.datetime.fromisoformat(data)

                return start_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None | Unset, data)

        start_time = _parse_start_time(d.pop("start_time", UNSET))

        record_update = cls(
            record_id=record_id,
            components=components,
            stop_time=stop_time,
            meta=meta,
            start_time=start_time,
        )

        record_update.additional_properties = d
        return record_update

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
