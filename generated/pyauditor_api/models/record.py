from __future__ import annotations

import datetime
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

from attrs import define as _attrs_define
from attrs import field as _attrs_field

if TYPE_CHECKING:
    from ..models.component import Component
    from ..models.meta import Meta


T = TypeVar("T", bound="Record")


@_attrs_define
class Record:
    """A stored record as the server returns it.  All six keys are always present, in this
    order: `record_id, meta, components, start_time, stop_time, runtime`.  The key order
    inside `meta` is arbitrary (it changes between calls).  `components` is `null` only for
    legacy rows.

        Example:
            {'record_id': '1', 'meta': {'site_id': ['site1']}, 'components': [{'name': 'NumCPUs', 'amount': 40, 'scores':
                [{'name': 'HEPSPEC', 'value': 1.2}]}], 'start_time': '2022-06-27T15:00:00Z', 'stop_time':
                '2022-06-27T15:01:00Z', 'runtime': 60}

    """

    record_id: str
    """ A valid name: not empty after removing leading and trailing Unicode White_Space, and at
    most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
    set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
    may hold several).  Stored verbatim.
     """
    meta: Meta | None
    components: list[Component] | None
    start_time: datetime.datetime
    """ A timestamp in a response: always UTC with a literal `Z`; no fraction when it is zero, 3
    digits when it is a whole number of milliseconds, 6 digits otherwise.  Years outside
    0000..9999 (which PostgreSQL stores) carry a sign and may have more digits, as chrono
    writes them: `+10000-01-01T00:00:00Z`.
     """
    stop_time: datetime.datetime | None
    runtime: int | None
    """ Seconds between start and stop, truncated toward zero; may be negative; `null` without a stop time. """
    additional_properties: dict[str, Any] = _attrs_field(init=False, factory=dict)

    def to_dict(self) -> dict[str, Any]:
        from ..models.meta import Meta

        record_id = self.record_id

        meta: dict[str, Any] | None
        if isinstance(self.meta, Meta):
            meta = self.meta.to_dict()
        else:
            meta = self.meta

        components: list[dict[str, Any]] | None
        if isinstance(self.components, list):
            components = []
            for components_type_0_item_data in self.components:
                components_type_0_item = components_type_0_item_data.to_dict()
                components.append(components_type_0_item)

        else:
            components = self.components

        start_time = self.start_time.isoformat()

        stop_time: None | str
        if isinstance(self.stop_time, datetime.datetime):
            stop_time = self.stop_time.isoformat()
        else:
            stop_time = self.stop_time

        runtime: int | None
        runtime = self.runtime

        field_dict: dict[str, Any] = {}
        field_dict.update(self.additional_properties)
        field_dict.update(
            {
                "record_id": record_id,
                "meta": meta,
                "components": components,
                "start_time": start_time,
                "stop_time": stop_time,
                "runtime": runtime,
            }
        )

        return field_dict

    @classmethod
    def from_dict(cls, src_dict: Mapping[str, Any]) -> Self:
        from ..models.component import Component
        from ..models.meta import Meta

        d = dict(src_dict)
        record_id = d.pop("record_id")

        def _parse_meta(data: object) -> Meta | None:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                meta_type_0 = Meta.from_dict(data)

                return meta_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(Meta | None, data)

        meta = _parse_meta(d.pop("meta"))

        def _parse_components(data: object) -> list[Component] | None:
            if data is None:
                return data
            try:
                if not isinstance(data, list):
                    raise TypeError()
                components_type_0 = []
                _components_type_0 = data
                for components_type_0_item_data in _components_type_0:
                    components_type_0_item = Component.from_dict(
                        components_type_0_item_data
                    )

                    components_type_0.append(components_type_0_item)

                return components_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(list[Component] | None, data)

        components = _parse_components(d.pop("components"))

        start_time = datetime.datetime.fromisoformat(d.pop("start_time"))

        def _parse_stop_time(data: object) -> datetime.datetime | None:
            if data is None:
                return data
            try:
                if not isinstance(data, str):
                    raise TypeError()
                stop_time_type_0 = datetime.datetime.fromisoformat(data)

                return stop_time_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(datetime.datetime | None, data)

        stop_time = _parse_stop_time(d.pop("stop_time"))

        def _parse_runtime(data: object) -> int | None:
            if data is None:
                return data
            return cast(int | None, data)

        runtime = _parse_runtime(d.pop("runtime"))

        record = cls(
            record_id=record_id,
            meta=meta,
            components=components,
            start_time=start_time,
            stop_time=stop_time,
            runtime=runtime,
        )

        record.additional_properties = d
        return record

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
