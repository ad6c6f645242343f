"""The SQS side of the app: the boto3 client, the batch sender on the hot path, the probe.

Credentials come from the default chain (EKS Pod Identity or IRSA in the cluster); none are
ever configured here. `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL` are honoured by botocore.

Why SendMessageBatch does not go through boto3's `send_message_batch`: boto3 spends ~0.95 ms
of CPU on each call on the reference machine (its event hooks, model-driven serialiser and
parser, user-agent and endpoint-rule machinery), ~0.1 ms per event, a third of the app's CPU
per event, taken from the one core the GIL allows the HTTP server (bench/app_throughput.py,
docs/app.md). `BatchSender` sends the request botocore would send for that call, with every
part that is easy to get wrong still botocore's own:

- the endpoint: `client.meta.endpoint_url`, botocore's resolution of region, partition,
  `AWS_ENDPOINT_URL(_SQS)`, FIPS and dual-stack settings;
- the credentials: the botocore session's default chain, refreshed by botocore;
- the signature: `botocore.auth.SigV4Auth`;
- the transport: botocore's `URLLib3Session` (TLS with botocore's CA bundle or `ca_bundle` /
  `AWS_CA_BUNDLE`, proxies from the environment, pooling, the same timeouts and socket
  options), which raises botocore's own exceptions (`EndpointConnectionError`,
  `ReadTimeoutError`, `ConnectionClosedError`, ...);
- errors: a `botocore.exceptions.ClientError` carrying the same `Error.Code` botocore would
  report (the query-compatible code SQS sends in `x-amzn-query-error`).

What is left by hand is small and pinned by tests/app/test_sqs.py: the AWS JSON 1.0 body and
the four protocol headers, byte for byte what botocore builds for the same call, and the
parsing of a JSON response. It also checks what boto3 does not: each successful entry's
`MD5OfMessageBody` must match the body sent, else the entry counts as failed and is retried.
"""

from __future__ import annotations

import hashlib
import json
import socket
from typing import Any, Final

import boto3.session
import botocore.session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.exceptions import ClientError, NoCredentialsError
from botocore.httpsession import URLLib3Session
from botocore.utils import get_environ_proxies

from app.batcher import SendBatch
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
# botocore's defaults for a client with tcp_keepalive=True (botocore/args.py).
_SOCKET_OPTIONS: Final = [
    (socket.IPPROTO_TCP, socket.TCP_NODELAY, 1),
    (socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1),
]


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
    """`send(entries) -> response`: one SendMessageBatch call, blocking, thread-safe.

    Returns the parsed response (`{"Successful": [...], "Failed": [...]}`, the shape boto3
    returns); raises `ClientError` for an error response and botocore's connection errors
    for a failed call, exactly the exceptions boto3 would raise.
    """

    def __init__(
        self, session: botocore.session.Session, client: Any, queue_url: str, *, pool_size: int
    ) -> None:
        self._session = session
        self._queue_url = queue_url
        self._url = client.meta.endpoint_url.rstrip("/") + "/"
        self._region = client.meta.region_name
        ca_bundle = session.get_config_variable("ca_bundle")
        self._http = URLLib3Session(
            verify=ca_bundle or True,
            proxies=get_environ_proxies(self._url),
            timeout=(SQS_CONNECT_TIMEOUT_SECONDS, SQS_READ_TIMEOUT_SECONDS),
            max_pool_connections=pool_size,
            socket_options=_SOCKET_OPTIONS,
        )

    def request(self, entries: list[dict[str, Any]]) -> AWSRequest:
        """The signed request; what `send` puts on the wire."""
        credentials = self._session.get_credentials()
        if credentials is None:
            raise NoCredentialsError()
        # botocore's JSON serialiser: json.dumps with its default separators and escaping.
        body = json.dumps({"QueueUrl": self._queue_url, "Entries": entries}).encode()
        request = AWSRequest("POST", self._url, data=body, headers=dict(_HEADERS))
        # get_frozen_credentials() refreshes expiring ones (Pod Identity, IRSA) first.
        SigV4Auth(credentials.get_frozen_credentials(), SERVICE, self._region).add_auth(request)
        return request

    def send(self, entries: list[dict[str, Any]]) -> dict[str, Any]:
        response = self._http.send(self.request(entries).prepare())
        return parse_response(response.status_code, response.headers, response.content, entries)


def parse_response(
    status: int, headers: Any, content: bytes, entries: list[dict[str, Any]]
) -> dict[str, Any]:
    """The parsed SendMessageBatch response, or the ClientError botocore would raise."""
    try:
        parsed = json.loads(content) if content else {}
    except ValueError:
        parsed = None
    if status >= 300 or not isinstance(parsed, dict):
        raise _client_error(status, headers, parsed)
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
    error = parsed if isinstance(parsed, dict) else {}
    # "com.amazonaws.sqs#QueueDoesNotExist" -> "QueueDoesNotExist"; SQS's query-compatible
    # code ("AWS.SimpleQueueService.NonExistentQueue;Sender") wins, as in botocore.
    code = str(error.get("__type") or error.get("code") or status).rsplit("#", 1)[-1]
    query_error = (headers or {}).get("x-amzn-query-error", "")
    if query_error:
        code = query_error.split(";", 1)[0]
    message = str(error.get("message") or error.get("Message") or "")
    return ClientError(
        {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {"HTTPStatusCode": status, "HTTPHeaders": dict(headers or {})},
        },
        "SendMessageBatch",
    )


def batch_sender(session: botocore.session.Session, client: Any, settings: Settings) -> SendBatch:
    return BatchSender(session, client, settings.queue_url, pool_size=settings.sender_threads).send


def probe(client: Any, queue_url: str) -> None:
    """Raise unless the queue answers; needs only sqs:GetQueueAttributes on it."""
    client.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
