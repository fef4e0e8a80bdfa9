from http import HTTPStatus
from typing import Any

import httpx

from ..._support import concatenated_json, encode_query
from ...client import AuthenticatedClient, Client
from ...models.count_operators import CountOperators
from ...models.error import Error
from ...models.query_records_component import QueryRecordsComponent
from ...models.query_records_meta import QueryRecordsMeta
from ...models.record import Record
from ...models.sort_by import SortBy
from ...models.time_operators import TimeOperators
from ...types import UNSET, Response, Unset


def _get_kwargs(
    *,
    record_id: str | Unset = UNSET,
    start_time: TimeOperators | Unset = UNSET,
    stop_time: TimeOperators | Unset = UNSET,
    runtime: CountOperators | Unset = UNSET,
    meta: QueryRecordsMeta | Unset = UNSET,
    component: QueryRecordsComponent | Unset = UNSET,
    sort_by: SortBy | Unset = UNSET,
    limit: int | Unset = UNSET,
    query_string: str | Unset = UNSET,
) -> dict[str, Any]:

    # pyauditor template: the query string is built here, not by httpx, so that object-valued
    # parameters keep AUDITOR's bracket syntax (deepObject: `start_time[gte]=...`,
    # `meta[site][c][0]=...`) with literal brackets (generator/templates/).
    query_pairs: list[tuple[str, Any]] = []

    query_pairs.append(("record_id", record_id))

    json_start_time: dict[str, Any] | Unset = UNSET
    if not isinstance(start_time, Unset):
        json_start_time = start_time.to_dict()
    query_pairs.append(("start_time", json_start_time))

    json_stop_time: dict[str, Any] | Unset = UNSET
    if not isinstance(stop_time, Unset):
        json_stop_time = stop_time.to_dict()
    query_pairs.append(("stop_time", json_stop_time))

    json_runtime: dict[str, Any] | Unset = UNSET
    if not isinstance(runtime, Unset):
        json_runtime = runtime.to_dict()
    query_pairs.append(("runtime", json_runtime))

    json_meta: dict[str, Any] | Unset = UNSET
    if not isinstance(meta, Unset):
        json_meta = meta.to_dict()
    query_pairs.append(("meta", json_meta))

    json_component: dict[str, Any] | Unset = UNSET
    if not isinstance(component, Unset):
        json_component = component.to_dict()
    query_pairs.append(("component", json_component))

    json_sort_by: dict[str, Any] | Unset = UNSET
    if not isinstance(sort_by, Unset):
        json_sort_by = sort_by.to_dict()
    query_pairs.append(("sort_by", json_sort_by))

    query_pairs.append(("limit", limit))

    query = encode_query(query_pairs, raw=query_string)

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/records" + query,
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Error | list[Record] | str:
    if response.status_code == 200:

        def _parse_item(data: Any) -> Record:
            response_200 = Record.from_dict(data)

            return response_200

        return [_parse_item(item) for item in concatenated_json(response.content)]

    if response.status_code == 400:
        response_400 = Error.from_dict(response.json())

        return response_400

    if response.status_code == 403:
        response_403 = response.text
        return response_403

    if response.status_code == 500:
        response_500 = Error.from_dict(response.json())

        return response_500

    response_default = response.text
    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Error | list[Record] | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    record_id: str | Unset = UNSET,
    start_time: TimeOperators | Unset = UNSET,
    stop_time: TimeOperators | Unset = UNSET,
    runtime: CountOperators | Unset = UNSET,
    meta: QueryRecordsMeta | Unset = UNSET,
    component: QueryRecordsComponent | Unset = UNSET,
    sort_by: SortBy | Unset = UNSET,
    limit: int | Unset = UNSET,
    query_string: str | Unset = UNSET,
) -> Response[Error | list[Record] | str]:
    """Query records (streamed).

     Returns the records that match every given filter.  Without parameters it returns all
    records.

    ## Query-string grammar
    The query string is parsed strictly (serde_qs strict mode, maximum depth 5):
    ```
    record_id=<name>
    start_time[<op>]=<timestamp>      stop_time[<op>]=<timestamp>     op: gt | lt | gte | lte | equals
    runtime[<op>]=<integer >= 0>
    component[<name>][<op>]=<integer >= 0>
    meta[<name>][c][<i>]=<name>       meta[<name>][dnc][<i>]=<name>   i: 0, 1, ... (gaps allowed) or
    empty
    sort_by[asc]=<column>             sort_by[desc]=<column>          column: start_time | stop_time |
    runtime | record_id
    limit=<integer >= 0>
    ```
    * **Brackets must be literal `[` and `]`.**  Encoded brackets (`%5B`, `%5D`) become part of
      the key and make it an unknown field (400).
    * Keys and values are percent-decoded and `+` decodes to a space, so the `+` of an offset
      must be sent as `%2B` (`2022-08-08T11%3A30%3A00%2B00%3A00`) or the offset written as `Z`.
    * Pairs are split on `&`; empty segments are skipped.  An empty value of an optional field
      (`limit=`, `record_id=`, `start_time[gt]=`) is treated as absent.
    * A repeated key is an error (`Multiple values for one key`).  Unknown top-level keys and
      unknown operators are errors; unknown keys inside `meta[<name>][...]` are ignored.
    * `meta[<name>][c]=<v>` without an index (the pre-0.10 syntax) is an error.
    * If both `sort_by[asc]` and `sort_by[desc]` are given, only `asc` is used.

    ## Filter semantics
    * Several operators on one field are ANDed (`start_time[gte]=a&start_time[lt]=b` is a range).
    * *Quirk*: `gt` together with `gte`, or `lt` together with `lte`, on one field drops that
      field's whole filter silently.
    * *Quirk*: `equals` on `start_time`/`stop_time` must be a valid timestamp but is ignored.
    * `stop_time` and `runtime` comparisons never match records whose value is null.
    * `meta[K][c][i]=V`: the record's values under `K` must contain **every** listed value.
      `meta[K][dnc][i]=V`: they must contain **none** of them; records without key `K` (or
      without meta) are excluded as well.
    * *Quirk*: `component[N][op]=A` looks only at the **first** component of each record
      (`name = N` and `amount op A`).  Two different component names never match together;
      records without components never match.
    * *Quirk*: the amount is cast to a **32-bit** integer (`::int`).  When a record whose
      first component is named `N` has an amount above 2 147 483 647, the query fails
      inside PostgreSQL after the `200` was sent: the body is empty (the rows are sorted
      first, so the failure comes before any row) or, where rows are streamed in index
      order, cut short before that record.
    * A NUL character (`%00`) in any value makes PostgreSQL fail the query: `200` with an
      empty body.
    * Default order is `stop_time` ascending.  Nulls sort last ascending and first descending.
      Ties come back in no particular order.  `limit` applies after ordering; `limit=0` gives
      an empty body.  There is no offset.

    ## Response body
    `200`, `Content-Type: application/json`, **streamed** with chunked transfer encoding.
    The body is the matching `Record` objects serialised as compact JSON and **concatenated
    with no separator** (no enclosing array, no commas, no newlines):
    `{"record_id":"a",...}{"record_id":"b",...}`.  No result is an **empty body** (0
    bytes), not `[]`.  With two or more records the body as a whole is not valid JSON; parse
    it object by object (for example with `json.JSONDecoder.raw_decode` in a loop).  Servers
    0.4 to 0.8 sent a JSON array instead (`[]` when empty); robust clients accept both, and
    newline-delimited objects.

    *Quirk*: a database error after the headers were sent ends the stream early; the client
    still sees `200`, with a truncated or empty body (a well-formed chunked body: nothing in
    the framing says it is incomplete).

    The schema below describes **each object** of the stream.

    Args:
        record_id (str | Unset): A valid name: not empty after removing leading and trailing
            Unicode White_Space, and at
            most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
            set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
            may hold several).  Stored verbatim.
        start_time (TimeOperators | Unset): Comparison operators on a timestamp; several are
            ANDed.
        stop_time (TimeOperators | Unset): Comparison operators on a timestamp; several are ANDed.
        runtime (CountOperators | Unset): Comparison operators on a non-negative integer; several
            are ANDed.
        meta (QueryRecordsMeta | Unset):
        component (QueryRecordsComponent | Unset):
        sort_by (SortBy | Unset): Exactly one direction is meaningful; if both are given, `asc`
            wins.
        limit (int | Unset):
        query_string (str | Unset): A query string sent verbatim after the typed parameters (for
            example the output of pyauditor's QueryBuilder.build()).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | list[Record] | str]
    """

    kwargs = _get_kwargs(
        record_id=record_id,
        start_time=start_time,
        stop_time=stop_time,
        runtime=runtime,
        meta=meta,
        component=component,
        sort_by=sort_by,
        limit=limit,
        query_string=query_string,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    record_id: str | Unset = UNSET,
    start_time: TimeOperators | Unset = UNSET,
    stop_time: TimeOperators | Unset = UNSET,
    runtime: CountOperators | Unset = UNSET,
    meta: QueryRecordsMeta | Unset = UNSET,
    component: QueryRecordsComponent | Unset = UNSET,
    sort_by: SortBy | Unset = UNSET,
    limit: int | Unset = UNSET,
    query_string: str | Unset = UNSET,
) -> Error | list[Record] | str | None:
    """Query records (streamed).

     Returns the records that match every given filter.  Without parameters it returns all
    records.

    ## Query-string grammar
    The query string is parsed strictly (serde_qs strict mode, maximum depth 5):
    ```
    record_id=<name>
    start_time[<op>]=<timestamp>      stop_time[<op>]=<timestamp>     op: gt | lt | gte | lte | equals
    runtime[<op>]=<integer >= 0>
    component[<name>][<op>]=<integer >= 0>
    meta[<name>][c][<i>]=<name>       meta[<name>][dnc][<i>]=<name>   i: 0, 1, ... (gaps allowed) or
    empty
    sort_by[asc]=<column>             sort_by[desc]=<column>          column: start_time | stop_time |
    runtime | record_id
    limit=<integer >= 0>
    ```
    * **Brackets must be literal `[` and `]`.**  Encoded brackets (`%5B`, `%5D`) become part of
      the key and make it an unknown field (400).
    * Keys and values are percent-decoded and `+` decodes to a space, so the `+` of an offset
      must be sent as `%2B` (`2022-08-08T11%3A30%3A00%2B00%3A00`) or the offset written as `Z`.
    * Pairs are split on `&`; empty segments are skipped.  An empty value of an optional field
      (`limit=`, `record_id=`, `start_time[gt]=`) is treated as absent.
    * A repeated key is an error (`Multiple values for one key`).  Unknown top-level keys and
      unknown operators are errors; unknown keys inside `meta[<name>][...]` are ignored.
    * `meta[<name>][c]=<v>` without an index (the pre-0.10 syntax) is an error.
    * If both `sort_by[asc]` and `sort_by[desc]` are given, only `asc` is used.

    ## Filter semantics
    * Several operators on one field are ANDed (`start_time[gte]=a&start_time[lt]=b` is a range).
    * *Quirk*: `gt` together with `gte`, or `lt` together with `lte`, on one field drops that
      field's whole filter silently.
    * *Quirk*: `equals` on `start_time`/`stop_time` must be a valid timestamp but is ignored.
    * `stop_time` and `runtime` comparisons never match records whose value is null.
    * `meta[K][c][i]=V`: the record's values under `K` must contain **every** listed value.
      `meta[K][dnc][i]=V`: they must contain **none** of them; records without key `K` (or
      without meta) are excluded as well.
    * *Quirk*: `component[N][op]=A` looks only at the **first** component of each record
      (`name = N` and `amount op A`).  Two different component names never match together;
      records without components never match.
    * *Quirk*: the amount is cast to a **32-bit** integer (`::int`).  When a record whose
      first component is named `N` has an amount above 2 147 483 647, the query fails
      inside PostgreSQL after the `200` was sent: the body is empty (the rows are sorted
      first, so the failure comes before any row) or, where rows are streamed in index
      order, cut short before that record.
    * A NUL character (`%00`) in any value makes PostgreSQL fail the query: `200` with an
      empty body.
    * Default order is `stop_time` ascending.  Nulls sort last ascending and first descending.
      Ties come back in no particular order.  `limit` applies after ordering; `limit=0` gives
      an empty body.  There is no offset.

    ## Response body
    `200`, `Content-Type: application/json`, **streamed** with chunked transfer encoding.
    The body is the matching `Record` objects serialised as compact JSON and **concatenated
    with no separator** (no enclosing array, no commas, no newlines):
    `{"record_id":"a",...}{"record_id":"b",...}`.  No result is an **empty body** (0
    bytes), not `[]`.  With two or more records the body as a whole is not valid JSON; parse
    it object by object (for example with `json.JSONDecoder.raw_decode` in a loop).  Servers
    0.4 to 0.8 sent a JSON array instead (`[]` when empty); robust clients accept both, and
    newline-delimited objects.

    *Quirk*: a database error after the headers were sent ends the stream early; the client
    still sees `200`, with a truncated or empty body (a well-formed chunked body: nothing in
    the framing says it is incomplete).

    The schema below describes **each object** of the stream.

    Args:
        record_id (str | Unset): A valid name: not empty after removing leading and trailing
            Unicode White_Space, and at
            most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
            set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
            may hold several).  Stored verbatim.
        start_time (TimeOperators | Unset): Comparison operators on a timestamp; several are
            ANDed.
        stop_time (TimeOperators | Unset): Comparison operators on a timestamp; several are ANDed.
        runtime (CountOperators | Unset): Comparison operators on a non-negative integer; several
            are ANDed.
        meta (QueryRecordsMeta | Unset):
        component (QueryRecordsComponent | Unset):
        sort_by (SortBy | Unset): Exactly one direction is meaningful; if both are given, `asc`
            wins.
        limit (int | Unset):
        query_string (str | Unset): A query string sent verbatim after the typed parameters (for
            example the output of pyauditor's QueryBuilder.build()).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | list[Record] | str
    """

    return sync_detailed(
        client=client,
        record_id=record_id,
        start_time=start_time,
        stop_time=stop_time,
        runtime=runtime,
        meta=meta,
        component=component,
        sort_by=sort_by,
        limit=limit,
        query_string=query_string,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    record_id: str | Unset = UNSET,
    start_time: TimeOperators | Unset = UNSET,
    stop_time: TimeOperators | Unset = UNSET,
    runtime: CountOperators | Unset = UNSET,
    meta: QueryRecordsMeta | Unset = UNSET,
    component: QueryRecordsComponent | Unset = UNSET,
    sort_by: SortBy | Unset = UNSET,
    limit: int | Unset = UNSET,
    query_string: str | Unset = UNSET,
) -> Response[Error | list[Record] | str]:
    """Query records (streamed).

     Returns the records that match every given filter.  Without parameters it returns all
    records.

    ## Query-string grammar
    The query string is parsed strictly (serde_qs strict mode, maximum depth 5):
    ```
    record_id=<name>
    start_time[<op>]=<timestamp>      stop_time[<op>]=<timestamp>     op: gt | lt | gte | lte | equals
    runtime[<op>]=<integer >= 0>
    component[<name>][<op>]=<integer >= 0>
    meta[<name>][c][<i>]=<name>       meta[<name>][dnc][<i>]=<name>   i: 0, 1, ... (gaps allowed) or
    empty
    sort_by[asc]=<column>             sort_by[desc]=<column>          column: start_time | stop_time |
    runtime | record_id
    limit=<integer >= 0>
    ```
    * **Brackets must be literal `[` and `]`.**  Encoded brackets (`%5B`, `%5D`) become part of
      the key and make it an unknown field (400).
    * Keys and values are percent-decoded and `+` decodes to a space, so the `+` of an offset
      must be sent as `%2B` (`2022-08-08T11%3A30%3A00%2B00%3A00`) or the offset written as `Z`.
    * Pairs are split on `&`; empty segments are skipped.  An empty value of an optional field
      (`limit=`, `record_id=`, `start_time[gt]=`) is treated as absent.
    * A repeated key is an error (`Multiple values for one key`).  Unknown top-level keys and
      unknown operators are errors; unknown keys inside `meta[<name>][...]` are ignored.
    * `meta[<name>][c]=<v>` without an index (the pre-0.10 syntax) is an error.
    * If both `sort_by[asc]` and `sort_by[desc]` are given, only `asc` is used.

    ## Filter semantics
    * Several operators on one field are ANDed (`start_time[gte]=a&start_time[lt]=b` is a range).
    * *Quirk*: `gt` together with `gte`, or `lt` together with `lte`, on one field drops that
      field's whole filter silently.
    * *Quirk*: `equals` on `start_time`/`stop_time` must be a valid timestamp but is ignored.
    * `stop_time` and `runtime` comparisons never match records whose value is null.
    * `meta[K][c][i]=V`: the record's values under `K` must contain **every** listed value.
      `meta[K][dnc][i]=V`: they must contain **none** of them; records without key `K` (or
      without meta) are excluded as well.
    * *Quirk*: `component[N][op]=A` looks only at the **first** component of each record
      (`name = N` and `amount op A`).  Two different component names never match together;
      records without components never match.
    * *Quirk*: the amount is cast to a **32-bit** integer (`::int`).  When a record whose
      first component is named `N` has an amount above 2 147 483 647, the query fails
      inside PostgreSQL after the `200` was sent: the body is empty (the rows are sorted
      first, so the failure comes before any row) or, where rows are streamed in index
      order, cut short before that record.
    * A NUL character (`%00`) in any value makes PostgreSQL fail the query: `200` with an
      empty body.
    * Default order is `stop_time` ascending.  Nulls sort last ascending and first descending.
      Ties come back in no particular order.  `limit` applies after ordering; `limit=0` gives
      an empty body.  There is no offset.

    ## Response body
    `200`, `Content-Type: application/json`, **streamed** with chunked transfer encoding.
    The body is the matching `Record` objects serialised as compact JSON and **concatenated
    with no separator** (no enclosing array, no commas, no newlines):
    `{"record_id":"a",...}{"record_id":"b",...}`.  No result is an **empty body** (0
    bytes), not `[]`.  With two or more records the body as a whole is not valid JSON; parse
    it object by object (for example with `json.JSONDecoder.raw_decode` in a loop).  Servers
    0.4 to 0.8 sent a JSON array instead (`[]` when empty); robust clients accept both, and
    newline-delimited objects.

    *Quirk*: a database error after the headers were sent ends the stream early; the client
    still sees `200`, with a truncated or empty body (a well-formed chunked body: nothing in
    the framing says it is incomplete).

    The schema below describes **each object** of the stream.

    Args:
        record_id (str | Unset): A valid name: not empty after removing leading and trailing
            Unicode White_Space, and at
            most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
            set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
            may hold several).  Stored verbatim.
        start_time (TimeOperators | Unset): Comparison operators on a timestamp; several are
            ANDed.
        stop_time (TimeOperators | Unset): Comparison operators on a timestamp; several are ANDed.
        runtime (CountOperators | Unset): Comparison operators on a non-negative integer; several
            are ANDed.
        meta (QueryRecordsMeta | Unset):
        component (QueryRecordsComponent | Unset):
        sort_by (SortBy | Unset): Exactly one direction is meaningful; if both are given, `asc`
            wins.
        limit (int | Unset):
        query_string (str | Unset): A query string sent verbatim after the typed parameters (for
            example the output of pyauditor's QueryBuilder.build()).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | list[Record] | str]
    """

    kwargs = _get_kwargs(
        record_id=record_id,
        start_time=start_time,
        stop_time=stop_time,
        runtime=runtime,
        meta=meta,
        component=component,
        sort_by=sort_by,
        limit=limit,
        query_string=query_string,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    record_id: str | Unset = UNSET,
    start_time: TimeOperators | Unset = UNSET,
    stop_time: TimeOperators | Unset = UNSET,
    runtime: CountOperators | Unset = UNSET,
    meta: QueryRecordsMeta | Unset = UNSET,
    component: QueryRecordsComponent | Unset = UNSET,
    sort_by: SortBy | Unset = UNSET,
    limit: int | Unset = UNSET,
    query_string: str | Unset = UNSET,
) -> Error | list[Record] | str | None:
    """Query records (streamed).

     Returns the records that match every given filter.  Without parameters it returns all
    records.

    ## Query-string grammar
    The query string is parsed strictly (serde_qs strict mode, maximum depth 5):
    ```
    record_id=<name>
    start_time[<op>]=<timestamp>      stop_time[<op>]=<timestamp>     op: gt | lt | gte | lte | equals
    runtime[<op>]=<integer >= 0>
    component[<name>][<op>]=<integer >= 0>
    meta[<name>][c][<i>]=<name>       meta[<name>][dnc][<i>]=<name>   i: 0, 1, ... (gaps allowed) or
    empty
    sort_by[asc]=<column>             sort_by[desc]=<column>          column: start_time | stop_time |
    runtime | record_id
    limit=<integer >= 0>
    ```
    * **Brackets must be literal `[` and `]`.**  Encoded brackets (`%5B`, `%5D`) become part of
      the key and make it an unknown field (400).
    * Keys and values are percent-decoded and `+` decodes to a space, so the `+` of an offset
      must be sent as `%2B` (`2022-08-08T11%3A30%3A00%2B00%3A00`) or the offset written as `Z`.
    * Pairs are split on `&`; empty segments are skipped.  An empty value of an optional field
      (`limit=`, `record_id=`, `start_time[gt]=`) is treated as absent.
    * A repeated key is an error (`Multiple values for one key`).  Unknown top-level keys and
      unknown operators are errors; unknown keys inside `meta[<name>][...]` are ignored.
    * `meta[<name>][c]=<v>` without an index (the pre-0.10 syntax) is an error.
    * If both `sort_by[asc]` and `sort_by[desc]` are given, only `asc` is used.

    ## Filter semantics
    * Several operators on one field are ANDed (`start_time[gte]=a&start_time[lt]=b` is a range).
    * *Quirk*: `gt` together with `gte`, or `lt` together with `lte`, on one field drops that
      field's whole filter silently.
    * *Quirk*: `equals` on `start_time`/`stop_time` must be a valid timestamp but is ignored.
    * `stop_time` and `runtime` comparisons never match records whose value is null.
    * `meta[K][c][i]=V`: the record's values under `K` must contain **every** listed value.
      `meta[K][dnc][i]=V`: they must contain **none** of them; records without key `K` (or
      without meta) are excluded as well.
    * *Quirk*: `component[N][op]=A` looks only at the **first** component of each record
      (`name = N` and `amount op A`).  Two different component names never match together;
      records without components never match.
    * *Quirk*: the amount is cast to a **32-bit** integer (`::int`).  When a record whose
      first component is named `N` has an amount above 2 147 483 647, the query fails
      inside PostgreSQL after the `200` was sent: the body is empty (the rows are sorted
      first, so the failure comes before any row) or, where rows are streamed in index
      order, cut short before that record.
    * A NUL character (`%00`) in any value makes PostgreSQL fail the query: `200` with an
      empty body.
    * Default order is `stop_time` ascending.  Nulls sort last ascending and first descending.
      Ties come back in no particular order.  `limit` applies after ordering; `limit=0` gives
      an empty body.  There is no offset.

    ## Response body
    `200`, `Content-Type: application/json`, **streamed** with chunked transfer encoding.
    The body is the matching `Record` objects serialised as compact JSON and **concatenated
    with no separator** (no enclosing array, no commas, no newlines):
    `{"record_id":"a",...}{"record_id":"b",...}`.  No result is an **empty body** (0
    bytes), not `[]`.  With two or more records the body as a whole is not valid JSON; parse
    it object by object (for example with `json.JSONDecoder.raw_decode` in a loop).  Servers
    0.4 to 0.8 sent a JSON array instead (`[]` when empty); robust clients accept both, and
    newline-delimited objects.

    *Quirk*: a database error after the headers were sent ends the stream early; the client
    still sees `200`, with a truncated or empty body (a well-formed chunked body: nothing in
    the framing says it is incomplete).

    The schema below describes **each object** of the stream.

    Args:
        record_id (str | Unset): A valid name: not empty after removing leading and trailing
            Unicode White_Space, and at
            most **256 extended grapheme clusters**.  The grapheme limit and the exact White_Space
            set cannot be expressed in JSON Schema; `maxLength` bounds only code points (a cluster
            may hold several).  Stored verbatim.
        start_time (TimeOperators | Unset): Comparison operators on a timestamp; several are
            ANDed.
        stop_time (TimeOperators | Unset): Comparison operators on a timestamp; several are ANDed.
        runtime (CountOperators | Unset): Comparison operators on a non-negative integer; several
            are ANDed.
        meta (QueryRecordsMeta | Unset):
        component (QueryRecordsComponent | Unset):
        sort_by (SortBy | Unset): Exactly one direction is meaningful; if both are given, `asc`
            wins.
        limit (int | Unset):
        query_string (str | Unset): A query string sent verbatim after the typed parameters (for
            example the output of pyauditor's QueryBuilder.build()).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | list[Record] | str
    """

    return (
        await asyncio_detailed(
            client=client,
            record_id=record_id,
            start_time=start_time,
            stop_time=stop_time,
            runtime=runtime,
            meta=meta,
            component=component,
            sort_by=sort_by,
            limit=limit,
            query_string=query_string,
        )
    ).parsed
