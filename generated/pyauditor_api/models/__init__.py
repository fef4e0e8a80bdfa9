"""Contains all the data models used in inputs/outputs"""

from .component import Component
from .count_operators import CountOperators
from .error import Error
from .meta import Meta
from .meta_filter import MetaFilter
from .query_records_component import QueryRecordsComponent
from .query_records_meta import QueryRecordsMeta
from .record import Record
from .record_add import RecordAdd
from .record_update import RecordUpdate
from .score import Score
from .sort_by import SortBy
from .sort_column import SortColumn
from .time_operators import TimeOperators
from .warning import Warning_

__all__ = (
    "Component",
    "CountOperators",
    "Error",
    "Meta",
    "MetaFilter",
    "QueryRecordsComponent",
    "QueryRecordsMeta",
    "Record",
    "RecordAdd",
    "RecordUpdate",
    "Score",
    "SortBy",
    "SortColumn",
    "TimeOperators",
    "Warning_",
)
