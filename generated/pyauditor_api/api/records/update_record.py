from http import HTTPStatus
from typing import Any, cast

import httpx

from ...client import AuthenticatedClient, Client
from ...models.record_update import RecordUpdate
from ...types import Response


def _get_kwargs(
    *,
    body: RecordUpdate,
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "put",
        "url": "/record",
    }

    _kwargs["json"] = body.to_dict()

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Any | str:
    if response.status_code == 200:
        response_200 = cast(Any, None)
        return response_200

    if response.status_code == 400:
        response_400 = response.text
        return response_400

    if response.status_code == 403:
        response_403 = response.text
        return response_403

    if response.status_code == 404:
        response_404 = response.text
        return response_404

    if response.status_code == 413:
        response_413 = response.text
        return response_413

    if response.status_code == 500:
        response_500 = response.text
        return response_500

    response_default = response.text
    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[Any | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RecordUpdate,
) -> Response[Any | str]:
    """Set the stop time of an existing record.

     Only `stop_time` (and the derived `runtime`, computed from the **stored** start time) is
    applied; an existing stop time is overwritten.  `meta`, `components` and `start_time`
    are validated and then ignored, but `components` must still be present.

    Args:
        body (RecordUpdate): The body of `PUT /record`.  Only `stop_time` is applied.
            `components` is required (and
            validated) although it is ignored; `meta` and `start_time` are optional, validated and
            ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | str]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
    body: RecordUpdate,
) -> Any | str | None:
    """Set the stop time of an existing record.

     Only `stop_time` (and the derived `runtime`, computed from the **stored** start time) is
    applied; an existing stop time is overwritten.  `meta`, `components` and `start_time`
    are validated and then ignored, but `components` must still be present.

    Args:
        body (RecordUpdate): The body of `PUT /record`.  Only `stop_time` is applied.
            `components` is required (and
            validated) although it is ignored; `meta` and `start_time` are optional, validated and
            ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | str
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: RecordUpdate,
) -> Response[Any | str]:
    """Set the stop time of an existing record.

     Only `stop_time` (and the derived `runtime`, computed from the **stored** start time) is
    applied; an existing stop time is overwritten.  `meta`, `components` and `start_time`
    are validated and then ignored, but `components` must still be present.

    Args:
        body (RecordUpdate): The body of `PUT /record`.  Only `stop_time` is applied.
            `components` is required (and
            validated) although it is ignored; `meta` and `start_time` are optional, validated and
            ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Any | str]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: RecordUpdate,
) -> Any | str | None:
    """Set the stop time of an existing record.

     Only `stop_time` (and the derived `runtime`, computed from the **stored** start time) is
    applied; an existing stop time is overwritten.  `meta`, `components` and `start_time`
    are validated and then ignored, but `components` must still be present.

    Args:
        body (RecordUpdate): The body of `PUT /record`.  Only `stop_time` is applied.
            `components` is required (and
            validated) although it is ignored; `meta` and `start_time` are optional, validated and
            ignored.

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Any | str
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
