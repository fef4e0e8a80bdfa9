from typing import Literal

SortColumn = Literal["record_id", "runtime", "start_time", "stop_time"]

SORT_COLUMN_VALUES: set[SortColumn] = {
    "record_id",
    "runtime",
    "start_time",
    "stop_time",
}


def check_sort_column(value: str) -> SortColumn:
    if value in SORT_COLUMN_VALUES:
        return value
    raise TypeError(
        f"Unexpected value {value!r}. Expected one of {SORT_COLUMN_VALUES!r}"
    )
