from http import HTTPStatus
from typing import Any

import httpx

from ...client import AuthenticatedClient, Client
from ...models.record_add import RecordAdd
from ...types import Response


def _get_kwargs(
    *,
    body: list[RecordAdd],
) -> dict[str, Any]:
    headers: dict[str, Any] = {}

    _kwargs: dict[str, Any] = {
        "method": "post",
        "url": "/records",
    }

    _kwargs["json"] = []
    for body_item_data in body:
        body_item = body_item_data.to_dict()
        _kwargs["json"].append(body_item)

    headers["Content-Type"] = "application/json"

    _kwargs["headers"] = headers
    return _kwargs


def _parse_response(
    *, client: AuthenticatedClient | Client, response: httpx.Response
) -> str:
    if response.status_code == 200:
        response_200 = response.text
        return response_200

    if response.status_code == 400:
        response_400 = response.text
        return response_400

    if response.status_code == 403:
        response_403 = response.text
        return response_403

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
    body: list[RecordAdd],
) -> Response[str]:
    """Add many records in one all-or-nothing transaction.

     Inserts a JSON array of records with one statement in one transaction: **either every
    record is stored or none is**.  A duplicate `record_id`, against a stored record or
    **inside the same request**, fails the whole batch with `500 RECORD_EXISTS`.  A single
    invalid record fails the whole body with `400`.  `[]` is accepted and inserts nothing.
    The body is limited to 2 MiB (`413` above): clients must split large batches.

    *Quirk*: with `ignore_record_exists_error: true` a batch containing a duplicate still
    inserts **nothing** (the transaction rolled back), yet the answer is `200` with a
    `warning` object.

    Args:
        body (list[RecordAdd]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[str]
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
    body: list[RecordAdd],
) -> str | None:
    """Add many records in one all-or-nothing transaction.

     Inserts a JSON array of records with one statement in one transaction: **either every
    record is stored or none is**.  A duplicate `record_id`, against a stored record or
    **inside the same request**, fails the whole batch with `500 RECORD_EXISTS`.  A single
    invalid record fails the whole body with `400`.  `[]` is accepted and inserts nothing.
    The body is limited to 2 MiB (`413` above): clients must split large batches.

    *Quirk*: with `ignore_record_exists_error: true` a batch containing a duplicate still
    inserts **nothing** (the transaction rolled back), yet the answer is `200` with a
    `warning` object.

    Args:
        body (list[RecordAdd]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        str
    """

    return sync_detailed(
        client=client,
        body=body,
    ).parsed


async def asyncio_detailed(
    *,
    client: AuthenticatedClient | Client,
    body: list[RecordAdd],
) -> Response[str]:
    """Add many records in one all-or-nothing transaction.

     Inserts a JSON array of records with one statement in one transaction: **either every
    record is stored or none is**.  A duplicate `record_id`, against a stored record or
    **inside the same request**, fails the whole batch with `500 RECORD_EXISTS`.  A single
    invalid record fails the whole body with `400`.  `[]` is accepted and inserts nothing.
    The body is limited to 2 MiB (`413` above): clients must split large batches.

    *Quirk*: with `ignore_record_exists_error: true` a batch containing a duplicate still
    inserts **nothing** (the transaction rolled back), yet the answer is `200` with a
    `warning` object.

    Args:
        body (list[RecordAdd]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        Response[str]
    """

    kwargs = _get_kwargs(
        body=body,
    )

    response = await client.get_async_httpx_client().request(**kwargs)

    return _build_response(client=client, response=response)


async def asyncio(
    *,
    client: AuthenticatedClient | Client,
    body: list[RecordAdd],
) -> str | None:
    """Add many records in one all-or-nothing transaction.

     Inserts a JSON array of records with one statement in one transaction: **either every
    record is stored or none is**.  A duplicate `record_id`, against a stored record or
    **inside the same request**, fails the whole batch with `500 RECORD_EXISTS`.  A single
    invalid record fails the whole body with `400`.  `[]` is accepted and inserts nothing.
    The body is limited to 2 MiB (`413` above): clients must split large batches.

    *Quirk*: with `ignore_record_exists_error: true` a batch containing a duplicate still
    inserts **nothing** (the transaction rolled back), yet the answer is `200` with a
    `warning` object.

    Args:
        body (list[RecordAdd]):

    Raises:
        errors.UnexpectedStatus: If the server returns an undocumented status code and Client.raise_on_unexpected_status is True.
        httpx.TimeoutException: If the request takes longer than Client.timeout.

    Returns:
        str
    """

    return (
        await asyncio_detailed(
            client=client,
            body=body,
        )
    ).parsed
