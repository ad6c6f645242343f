"""The SQS side of the app: the boto3 client, the batch sender on the hot path, the probe.

Credentials come from the default chain (EKS Pod Identity or IRSA in the cluster); none are
ever configured here. `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` are honoured by botocore.

Why SendMessageBatch does not go through boto3's `send_message_batch`: boto3 spends ~0.95 ms
of CPU on each call on the reference machine (its event hooks, model-driven serialiser and
parser, user-agent and endpoint-rule machinery), and it blocks, so it has to run on threads
that take the GIL from the HTTP server: a third of the app's CPU per event (bench/
app_throughput.py, docs/app.md). `BatchSender` sends the request botocore would send for that
call, with aiohttp on the app's event loop, and leaves every part that is easy to get wrong to
botocore:

- the endpoint: `client.meta.endpoint_url`, botocore's resolution of region, partition,
  `AWS_ENDPOINT_URL(_SQS)`, FIPS and dual-stack settings;
- the credentials: the botocore session's default chain, resolved and refreshed by botocore
  (off the event loop: those are HTTP calls to the Pod Identity agent or STS);
- the signature: `botocore.auth.SigV4Auth`;
- the trust store (`ca_bundle` / `AWS_CA_BUNDLE`, else botocore's own), proxies
  (`HTTPS_PROXY` / `NO_PROXY`, read as botocore reads them) and timeouts (botocore's 1 s
  connect and 5 s read, bounded at 6 s in all);
- errors: a `botocore.exceptions.ClientError` with the code, message and status botocore
  would report (including the query-compatible code SQS sends in `x-amzn-query-error`).
  A call that fails on the way raises aiohttp's `ClientError` or `TimeoutError`; the
  batcher retries both, as it retries botocore's connection errors.

What is left by hand is small and pinned by tests/app/test_sqs.py: the AWS JSON 1.0 body and
its protocol headers, byte for byte what boto3 sends for the same call, and the parsing of
the JSON answer. It also checks what boto3 does not: each successful entry's
`MD5OfMessageBody` must match the body sent, else the entry counts as failed and is retried.

It stays hand-written only while it beats aiobotocore (botocore's own machinery on the event
loop) by >= 1.3x events/s at 64 clients: bench/app_throughput.py's `aiobotocore` variant
measures that in every run (docs/app.md has the figures).
"""

from __future__ import annotations

import asyncio
import hashlib
import http.client
import json
import ssl
from typing import Any, Final
from urllib.parse import urlsplit

import aiohttp
import boto3.session
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.httpsession import get_cert_path
from botocore.utils import get_environ_proxies

from app.settings import SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS, Settings

SERVICE: Final = "sqs"
# The SQS API speaks AWS JSON 1.0 (https://docs.aws.amazon.com/AWSSimpleQueueService/latest/
# SQSDeveloperGuide/sqs-making-api-requests-json.html). `x-amzn-query-mode` asks SQS for the
# query-protocol error codes in `x-amzn-query-error`, as botocore does.
_HEADERS: Final = {
    "X-Amz-Target": "AmazonSQS.SendMessageBatch",
    "Content-Type": "application/x-amz-json-1.0",
    "x-amzn-query-mode": "true",
}
USER_AGENT: Final = "ecr-eks-lambda-app"


def make_session(settings: Settings) -> botocore.session.Session:
    session = botocore.session.get_session()
    session.set_config_variable("region", settings.region)
    return session


def make_client(settings: Settings, session: botocore.session.Session | None = None) -> Any:
    config = Config(
        region_name=settings.region,
        connect_timeout=SQS_CONNECT_TIMEOUT_SECONDS,
        read_timeout=SQS_READ_TIMEOUT_SECONDS,
        # One retry layer only: the batcher retries per entry with backoff and a deadline,
        # which botocore's own retries (whole calls, blind to failed entries) cannot do.
        retries={"mode": "standard", "total_max_attempts": 1},
        # The readiness probe and anything else off the hot path; BatchSender has its own pool.
        max_pool_connections=2,
        tcp_keepalive=True,
    )
    return boto3.session.Session(botocore_session=session or make_session(settings)).client(
        SERVICE, config=config
    )


class BatchSender:
    """`await send(entries) -> response`: one SendMessageBatch call, on the event loop.

    Returns the parsed response (`{"Successful": [...], "Failed": [...]}`, the shape boto3
    returns); raises `ClientError` for an error response, and aiohttp's `ClientError` or
    `TimeoutError` for a call that failed on the way (all retried by the batcher).
    Call `close()` once done.
    """

    def __init__(
        self,
        session: botocore.session.Session,
        client: Any,
        queue_url: str,
        *,
        max_connections: int,
    ) -> None:
        self._session = session
        self._credentials: Any = None
        self._queue_url = queue_url
        self._url = client.meta.endpoint_url.rstrip("/") + "/"
        self._region = client.meta.region_name
        # HTTPS_PROXY / HTTP_PROXY / NO_PROXY, read once as botocore reads them (aiohttp's
        # trust_env would read them, and ~/.netrc, in a thread on every request).
        self._proxy = get_environ_proxies(self._url).get(urlsplit(self._url).scheme)
        # botocore's trust store: `ca_bundle` / AWS_CA_BUNDLE, else certifi or its own bundle.
        ssl_context = ssl.create_default_context(
            cafile=get_cert_path(session.get_config_variable("ca_bundle") or True)
        )
        self._http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=max_connections, ssl=ssl_context),
            # botocore's timeouts are per connect and per read; the total bound keeps a
            # trickling response within the same budget (settings.py counts on it).
            timeout=aiohttp.ClientTimeout(
                total=SQS_CONNECT_TIMEOUT_SECONDS + SQS_READ_TIMEOUT_SECONDS,
                sock_connect=SQS_CONNECT_TIMEOUT_SECONDS,
                sock_read=SQS_READ_TIMEOUT_SECONDS,
            ),
            cookie_jar=aiohttp.DummyCookieJar(),
            # Responses uncompressed, as botocore asks for them.
            skip_auto_headers=("Accept-Encoding",),
            headers={"User-Agent": USER_AGENT},
        )

    def request(self, entries: list[dict[str, Any]], credentials: Any) -> AWSRequest:
        """The signed request `send` puts on the wire, for the given frozen credentials."""
        # botocore's JSON serialiser: json.dumps with its default separators and escaping.
        body = json.dumps({"QueueUrl": self._queue_url, "Entries": entries}).encode()
        request = AWSRequest("POST", self._url, data=body, headers=dict(_HEADERS))
        SigV4Auth(credentials, SERVICE, self._region).add_auth(request)
        return request

    async def credentials(self) -> Any:
        """Frozen credentials. Resolving the chain and refreshing (HTTP calls to the Pod
        Identity agent or STS) run off the event loop."""
        loop = asyncio.get_running_loop()
        credentials = self._credentials
        if credentials is None:
            credentials = await loop.run_in_executor(None, self._session.get_credentials)
            if credentials is None:
                raise NoCredentialsError()
            self._credentials = credentials
        refresh_needed = getattr(credentials, "refresh_needed", None)
        if refresh_needed is not None and refresh_needed():
            return await loop.run_in_executor(None, credentials.get_frozen_credentials)
        return credentials.get_frozen_credentials()

    async def send(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        request = self.request(entries, await self.credentials())
        async with self._http.post(
            self._url,
            data=request.body,
            headers=dict(request.headers.items()),
            proxy=self._proxy,
            # SQS never redirects; a redirect would carry a signed request elsewhere.
            allow_redirects=False,
        ) as response:
            content = await response.read()
        return parse_response(response.status, response.headers, content, entries)

    async def close(self) -> None:
        await self._http.close()


def parse_response(
    status: int, headers: Any, content: bytes, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """The parsed SendMessageBatch response, or the ClientError botocore would raise."""
    try:
        parsed = json.loads(content) if content else None
    except ValueError:
        parsed = None
    if status >= 300:
        raise _client_error(status, headers, parsed)
    if not isinstance(parsed, dict):
        parsed = {}  # as botocore parses it: no entry confirmed, so each is retried
    bodies = {entry["Id"]: entry["MessageBody"] for entry in entries}
    successful: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = list(parsed.get("Failed") or [])
    for item in parsed.get("Successful") or []:
        body = bodies.get(item.get("Id"))
        if body is not None and item.get("MD5OfMessageBody") != _md5(body):
            failed.append(
                {
                    "Id": item["Id"],
                    "SenderFault": False,
                    "Code": "MD5Mismatch",
                    "Message": "MD5OfMessageBody does not match the body sent",
                }
            )
        else:
            successful.append(item)
    return {"Successful": successful, "Failed": failed}


def _md5(body: str) -> str:
    # SQS's integrity check of what it stored, not a security control.
    return hashlib.md5(body.encode(), usedforsecurity=False).hexdigest()


def _client_error(status: int, headers: Any, parsed: Any) -> ClientError:
    """What botocore raises for this error response (same Error.Code and Message)."""
    headers = {k.lower(): v for k, v in (headers or {}).items()}
    if isinstance(parsed, dict):
        # "com.amazonaws.sqs#QueueDoesNotExist" -> "QueueDoesNotExist"
        code = str(parsed.get("__type") or parsed.get("code") or status).rsplit("#", 1)[-1]
        message = str(parsed.get("message") or parsed.get("Message") or "")
    else:  # not JSON (a proxy's HTML page, an empty body): botocore reports the status
        code, message = str(status), http.client.responses.get(status, "")
    # SQS's query-compatible code ("AWS.SimpleQueueService.NonExistentQueue;Sender") wins,
    # as in botocore, so that codes match what older SDKs and the SQS docs name.
    query_error = headers.get("x-amzn-query-error", "")
    if query_error:
        code = query_error.split(";", 1)[0]
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": headers},
        },
        "SendMessageBatch",
    )


def probe(client: Any, queue_url: str) -> None:
    """Raise unless the queue answers; needs only sqs:GetQueueAttributes on it."""
    client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
