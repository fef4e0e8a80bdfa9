from http import HTTPStatus
from typing import Any, cast
from urllib.parse import quote

import httpx

from ...client import AuthenticatedClient, Client
from ...models.error import Error
from ...models.record import Record
from ...types import Response


def _get_kwargs(
    record_id: str,
) -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/record/{record_id}".format(
            record_id=quote(str(record_id), safe=""),
        ),
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Error | None | Record | str:
    if response.status_code == 200:

        def _parse_response_200(data: object) -> None | Record:
            if data is None:
                return data
            try:
                if not isinstance(data, dict):
                    raise TypeError()
                response_200_type_0 = Record.from_dict(data)

                return response_200_type_0
            except (TypeError, ValueError, AttributeError, KeyError):
                pass
            return cast(None | Record, data)

        response_200 = _parse_response_200(response.json())

        return response_200

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
) -> Response[Error | None | Record | str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    record_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Error | None | Record | str]:
    """Get one record by id.

     The path segment is fully percent-decoded before lookup, so ids containing `/`, `?`, `#`,
    `%` or spaces must be percent-encoded by the client.  An empty segment (`/record/`) is an
    unknown path (`404`).

    Args:
        record_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | None | Record | str]
    """

    kwargs = _get_kwargs(
        record_id=record_id,
    )

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    record_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Error | None | Record | str:
    """Get one record by id.

     The path segment is fully percent-decoded before lookup, so ids containing `/`, `?`, `#`,
    `%` or spaces must be percent-encoded by the client.  An empty segment (`/record/`) is an
    unknown path (`404`).

    Args:
        record_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | None | Record | str
    """

    return sync_detailed(
        record_id=record_id,
        client=client,
    ).parsed


async def asyncio_detailed(
    record_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Response[Error | None | Record | str]:
    """Get one record by id.

     The path segment is fully percent-decoded before lookup, so ids containing `/`, `?`, `#`,
    `%` or spaces must be percent-encoded by the client.  An empty segment (`/record/`) is an
    unknown path (`404`).

    Args:
        record_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[Error | None | Record | str]
    """

    kwargs = _get_kwargs(
        record_id=record_id,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    record_id: str,
    *,
    client: AuthenticatedClient | Client,
) -> Error | None | Record | str:
    """Get one record by id.

     The path segment is fully percent-decoded before lookup, so ids containing `/`, `?`, `#`,
    `%` or spaces must be percent-encoded by the client.  An empty segment (`/record/`) is an
    unknown path (`404`).

    Args:
        record_id (str):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Error | None | Record | str
    """

    return (
        await asyncio_detailed(
            record_id=record_id,
            client=client,
        )
    ).parsed
