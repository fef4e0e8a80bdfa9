from http import HTTPStatus
from typing import Any

import httpx

from ...client import AuthenticatedClient, Client
from ...types import Response


def _get_kwargs() -> dict[str, Any]:

    _kwargs: dict[str, Any] = {
        "method": "get",
        "url": "/metrics",
    }

    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> str:
    if response.status_code == 200:
        response_200 = response.text
        return response_200

    if response.status_code == 403:
        response_403 = response.text
        return response_403

    response_default = response.text
    return response_default


def _build_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> Response[str]:
    return Response(
        status_code=HTTPStatus(response.status_code),
        content=response.content,
        headers=response.headers,
        parsed=_parse_response(client=client, response=response),
    )


def sync_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[str]:
    """Prometheus metrics.

     Prometheus text exposition format, sent **without a Content-Type header**.  Database
    gauges (refreshed every `metrics.database.frequency` seconds, default 30):
    `num_records_database`, `num_records_database_per_site{site="..."}`,
    `num_records_database_per_group{group_id="..."}`,
    `num_records_database_per_user{user_id="..."}`; plus the HTTP server metrics of the
    OpenTelemetry request middleware (`http_server_duration`, `http_server_active_requests`,
    `http_server_request_size`, `http_server_response_size`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[str]
    """

    kwargs = _get_kwargs()

    response = client.get_httpx_client().request(
        **kwargs,
    )

    return _build_response(client=client, response=response)


def sync(
    *,
    client: AuthenticatedClient | Client,
) -> str | None:
    """Prometheus metrics.

     Prometheus text exposition format, sent **without a Content-Type header**.  Database
    gauges (refreshed every `metrics.database.frequency` seconds, default 30):
    `num_records_database`, `num_records_database_per_site{site="..."}`,
    `num_records_database_per_group{group_id="..."}`,
    `num_records_database_per_user{user_id="..."}`; plus the HTTP server metrics of the
    OpenTelemetry request middleware (`http_server_duration`, `http_server_active_requests`,
    `http_server_request_size`, `http_server_response_size`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        str
    """

    return sync_detailed(
        client=client,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
) -> Response[str]:
    """Prometheus metrics.

     Prometheus text exposition format, sent **without a Content-Type header**.  Database
    gauges (refreshed every `metrics.database.frequency` seconds, default 30):
    `num_records_database`, `num_records_database_per_site{site="..."}`,
    `num_records_database_per_group{group_id="..."}`,
    `num_records_database_per_user{user_id="..."}`; plus the HTTP server metrics of the
    OpenTelemetry request middleware (`http_server_duration`, `http_server_active_requests`,
    `http_server_request_size`, `http_server_response_size`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[str]
    """

    kwargs = _get_kwargs()

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
) -> str | None:
    """Prometheus metrics.

     Prometheus text exposition format, sent **without a Content-Type header**.  Database
    gauges (refreshed every `metrics.database.frequency` seconds, default 30):
    `num_records_database`, `num_records_database_per_site{site="..."}`,
    `num_records_database_per_group{group_id="..."}`,
    `num_records_database_per_user{user_id="..."}`; plus the HTTP server metrics of the
    OpenTelemetry request middleware (`http_server_duration`, `http_server_active_requests`,
    `http_server_request_size`, `http_server_response_size`).

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        str
    """

    return (
        await asyncio_detailed(
            client=client,
        )
    ).parsed
