"""app.sqs.BatchSender, the app's own SendMessageBatch call, held to what boto3 does.

- the request is the one boto3 sends for the same call, byte for byte, in every endpoint
  setting botocore resolves (partition, FIPS, dual-stack, AWS_ENDPOINT_URL_SQS, session token);
- what reaches a server is signed correctly (the signature is verified from the wire);
- error responses raise the ClientError boto3 raises (same code, message, status), and the
  batcher retries exactly the ones it would retry with boto3;
- a body SQS reports with another MD5 is not acknowledged;
- credentials are resolved and refreshed off the event loop;
- TLS trusts `AWS_CA_BUNDLE`, proxies come from the environment, and against moto the
  messages arrive exactly as sent.
"""

from __future__ import annotations

import asyncio
import datetime
import ipaddress
import json
import re
import ssl
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from unittest import mock

import aiohttp
import boto3.session
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest, AWSResponse
from botocore.config import Config
from botocore.credentials import Credentials, RefreshableCredentials
from botocore.exceptions import ClientError, NoCredentialsError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from app import sqs
from app.batcher import _retryable
from local.servers import MotoServer, free_port, read_all_messages
from tests.app.sqs_wire import (
    ACCOUNT_QUEUE,
    KEY,
    SECRET,
    RawBody,
    accepted,
    boto3_request,
    run,
    serve,
    settings,
    sqs_like,
)

FROZEN_NOW = datetime.datetime(2026, 11, 29, 12, 0, 0, tzinfo=datetime.UTC)

ENTRIES: list[dict[str, Any]] = [
    {
        "Id": "0",
        "MessageBody": json.dumps(
            {
                "id": "a-1",
                "type": "order.created",
                "data": {"note": 'h\u00e9llo \u2713 \U0001f389 "q" \\ </b>'},
            },
            ensure_ascii=False,
        ),
        "MessageAttributes": {
            "event_id": {"DataType": "String", "StringValue": "a-1"},
            "traceparent": {
                "DataType": "String",
                "StringValue": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
            },
        },
        # The trace header Lambda's SQS integration reads (app.tracing, contract.trace).
        "MessageSystemAttributes": {
            "AWSTraceHeader": {
                "DataType": "String",
                "StringValue": "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;"
                "Sampled=1",
            }
        },
    },
    {
        "Id": "1",
        "MessageBody": '{"id":"b-\u00fc","type":"t","data":{}}',
        "MessageAttributes": {"event_id": {"DataType": "String", "StringValue": "b-\u00fc"}},
    },
]


async def with_sender(
    region: str,
    queue_url: str,
    use: Callable[[sqs.BatchSender], Awaitable[Any]],
    session: Any = None,
) -> Any:
    config = settings(region, queue_url)
    real = sqs.make_session(config)
    client = sqs.make_client(config, real)
    sender = sqs.BatchSender(session or real, client, queue_url, max_connections=2)
    try:
        return await use(sender)
    finally:
        await sender.close()


def header_text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


# Extra headers boto3 adds that are not signed and carry no meaning for SQS.
BOTO3_ONLY = {"user-agent", "amz-sdk-invocation-id", "amz-sdk-request", "content-length"}


@pytest.mark.parametrize(
    ("env", "region"),
    [
        ({}, "us-east-1"),
        ({}, "cn-north-1"),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, "us-gov-west-1"),
        ({"AWS_USE_FIPS_ENDPOINT": "true"}, "us-east-1"),
        ({"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "eu-west-1"),
        ({"AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:4566"}, "us-east-1"),
        ({"AWS_ENDPOINT_URL": "https://sqs.example.internal:8443/"}, "ap-southeast-2"),
        ({"AWS_SESSION_TOKEN": "FwoGZXIvYXdzE+/token=="}, "us-east-1"),
    ],
    ids=["default", "china", "govcloud-fips", "fips", "dual-stack", "local", "custom", "token"],
)
def test_the_request_is_the_one_boto3_sends(aws_env, env, region):
    for name, value in env.items():
        aws_env.setenv(name, value)
    queue_url = f"https://sqs.{region}.amazonaws.com/{ACCOUNT_QUEUE}"
    with mock.patch("botocore.auth.get_current_datetime", return_value=FROZEN_NOW):
        theirs = boto3_request(region, queue_url, ENTRIES)

        async def build(sender: sqs.BatchSender) -> AWSRequest:
            return sender.request(ENTRIES, await sender.credentials())

        ours = run(lambda: with_sender(region, queue_url, build))

    assert ours.url == theirs.url
    assert ours.body == theirs.body
    our_headers = {k.lower(): header_text(v) for k, v in ours.headers.items()}
    their_headers = {k.lower(): header_text(v) for k, v in theirs.headers.items()}
    assert set(their_headers) - set(our_headers) <= BOTO3_ONLY
    assert our_headers == {k: v for k, v in their_headers.items() if k not in BOTO3_ONLY}
    assert our_headers["authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY}/")


AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<key>[^/]+)/(?P<day>\d{8})/(?P<region>[^/]+)/sqs/"
    r"aws4_request, SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<signature>[0-9a-f]{64})$"
)


def wire_signature(headers: dict[str, str], body: bytes, region: str, token: str) -> str:
    """The signature AWS computes from a request as it arrived."""
    match = AUTHORIZATION.match(headers["Authorization"])
    assert match, headers["Authorization"]
    signed = match["signed"].split(";")
    lower = {k.lower(): v for k, v in headers.items()}
    request = AWSRequest(
        "POST", f"http://{lower['host']}/", data=body, headers={h: lower[h] for h in signed}
    )
    request.context["timestamp"] = lower["x-amz-date"]
    signer = SigV4Auth(Credentials(KEY, SECRET, token), "sqs", region)
    canonical = signer.canonical_request(request)
    return header_text(signer.signature(signer.string_to_sign(request, canonical), request))


def test_what_reaches_the_server_is_signed_and_parsed(aws_env):
    token = "session/token+="
    aws_env.setenv("AWS_SESSION_TOKEN", token)

    async def main() -> tuple[Any, list[Any], str]:
        runner, port, seen = await serve(sqs_like)
        aws_env.setenv("AWS_ENDPOINT_URL_SQS", f"http://127.0.0.1:{port}")
        queue_url = f"http://127.0.0.1:{port}/{ACCOUNT_QUEUE}"
        try:
            result = await with_sender("eu-west-1", queue_url, lambda s: s.send(ENTRIES))
        finally:
            await runner.cleanup()
        return result, seen, queue_url

    result, seen, queue_url = run(main)
    [(method, path, headers, body)] = seen
    assert (method, path) == ("POST", "/")
    match = AUTHORIZATION.match(headers["Authorization"])
    assert match
    assert match["signed"] == (
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target;x-amzn-query-mode"
    )
    assert match["signature"] == wire_signature(headers, body, "eu-west-1", token)
    # The check can fail: one byte more in the body and the signature no longer matches.
    assert match["signature"] != wire_signature(headers, body + b" ", "eu-west-1", token)
    assert headers["X-Amz-Target"] == "AmazonSQS.SendMessageBatch"
    assert headers["Content-Type"] == "application/x-amz-json-1.0"
    assert headers["User-Agent"] == sqs.USER_AGENT
    assert "gzip" not in headers.get("Accept-Encoding", "")
    assert "Cookie" not in headers
    assert json.loads(body) == {"QueueUrl": queue_url, "Entries": ENTRIES}
    assert [s["Id"] for s in result["Successful"]] == ["0", "1"]
    assert result["Failed"] == []


ERROR_RESPONSES = {
    "missing queue": (
        400,
        {"x-amzn-query-error": "AWS.SimpleQueueService.NonExistentQueue;Sender"},
        b'{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The queue does not exist."}',
    ),
    "throttled": (
        400,
        {"x-amzn-query-error": "RequestThrottled;Sender"},
        b'{"__type":"com.amazonaws.sqs#RequestThrottled","message":"Rate exceeded"}',
    ),
    "access denied": (
        400,
        {},
        b'{"__type":"com.amazon.coral.service#AccessDeniedException","Message":"not authorized"}',
    ),
    "internal error": (500, {}, b'{"__type":"com.amazonaws.sqs#InternalError","message":"boom"}'),
    "a proxy's page": (502, {"Content-Type": "text/html"}, b"<html>Bad Gateway</html>"),
    "empty": (503, {}, b""),
}


def boto3_error(status: int, headers: dict[str, str], body: bytes) -> ClientError:
    client = boto3.session.Session(region_name="us-east-1").client(
        "sqs", config=Config(retries={"total_max_attempts": 1})
    )
    client.meta.events.register(
        "before-send.sqs.SendMessageBatch",
        lambda request, **_: AWSResponse(request.url, status, headers, RawBody(body)),
    )
    with pytest.raises(ClientError) as raised:
        client.send_message_batch(
            QueueUrl=f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT_QUEUE}", Entries=ENTRIES
        )
    return raised.value


@pytest.mark.parametrize(
    ("status", "headers", "body"), ERROR_RESPONSES.values(), ids=ERROR_RESPONSES
)
def test_an_error_response_raises_what_boto3_raises(aws_env, status, headers, body):
    theirs = boto3_error(status, headers, body)
    with pytest.raises(ClientError) as raised:
        sqs.parse_response(status, headers, body, ENTRIES)
    ours = raised.value
    assert ours.response["Error"]["Code"] == theirs.response["Error"]["Code"]
    assert ours.response["Error"]["Message"] == theirs.response["Error"]["Message"]
    assert (
        ours.response["ResponseMetadata"]["HTTPStatusCode"]
        == theirs.response["ResponseMetadata"]["HTTPStatusCode"]
    )
    assert _retryable(ours) == _retryable(theirs)


def test_the_batcher_retries_throttling_and_server_errors_but_not_a_missing_queue():
    verdicts = {}
    for name, (status, headers, body) in ERROR_RESPONSES.items():
        with pytest.raises(ClientError) as raised:
            sqs.parse_response(status, headers, body, ENTRIES)
        verdicts[name] = _retryable(raised.value)
    assert verdicts == {
        "missing queue": False,
        "throttled": True,
        "access denied": False,
        "internal error": True,
        "a proxy's page": True,
        "empty": True,
    }


def test_an_entry_whose_md5_does_not_match_is_not_acknowledged():
    response = accepted(ENTRIES)
    response["Successful"][1]["MD5OfMessageBody"] = "0" * 32
    parsed = sqs.parse_response(200, {}, json.dumps(response).encode(), ENTRIES)
    assert [s["Id"] for s in parsed["Successful"]] == ["0"]
    assert parsed["Failed"] == [
        {
            "Id": "1",
            "SenderFault": False,
            "Code": "MD5Mismatch",
            "Message": "MD5OfMessageBody does not match the body sent",
        }
    ]


def test_a_success_status_with_no_json_confirms_nothing():
    assert sqs.parse_response(200, {}, b"<html>", ENTRIES) == {"Successful": [], "Failed": []}


class CountingSession:
    """A botocore session stand-in that records the thread each credentials lookup ran on."""

    def __init__(self, credentials: Any) -> None:
        self.credentials = credentials
        self.threads: list[str] = []

    def get_credentials(self) -> Any:
        self.threads.append(threading.current_thread().name)
        return self.credentials

    def get_config_variable(self, name: str) -> Any:
        return None


def test_credentials_are_resolved_and_refreshed_off_the_event_loop(aws_env):
    refreshed_on: list[str] = []
    now = datetime.datetime.now(datetime.UTC)

    def refresh() -> dict[str, str]:
        refreshed_on.append(threading.current_thread().name)
        return {
            "access_key": "NEW",
            "secret_key": "s",
            "token": "t",
            "expiry_time": (now + datetime.timedelta(hours=1)).isoformat(),
        }

    expiring = RefreshableCredentials.create_from_metadata(
        {
            "access_key": "OLD",
            "secret_key": "s",
            "token": "t",
            "expiry_time": (now + datetime.timedelta(seconds=60)).isoformat(),
        },
        refresh_using=refresh,
        method="test",
    )
    session = CountingSession(expiring)

    async def main(sender: sqs.BatchSender) -> tuple[str, str, str]:
        first = await sender.credentials()
        second = await sender.credentials()
        return first.access_key, second.access_key, threading.current_thread().name

    first, second, loop_thread = run(
        lambda: with_sender(
            "us-east-1", f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT_QUEUE}", main, session
        )
    )
    assert (first, second) == ("NEW", "NEW")
    assert len(refreshed_on) == 1  # refreshed once; fresh credentials are used as they are
    assert loop_thread not in refreshed_on
    assert session.threads
    assert loop_thread not in session.threads


def test_no_credentials_is_an_error_not_an_unsigned_request(aws_env):
    async def main(sender: sqs.BatchSender) -> Any:
        return await sender.send(ENTRIES)

    with pytest.raises(NoCredentialsError):
        run(
            lambda: with_sender(
                "us-east-1",
                f"https://sqs.us-east-1.amazonaws.com/{ACCOUNT_QUEUE}",
                main,
                CountingSession(None),
            )
        )


def make_ca_and_server_cert(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A CA, and a certificate for 127.0.0.1 it signed; returns the CA file and the
    server's TLS context."""
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), False
        )
        .sign(ca_key, hashes.SHA256())
    )
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert_file, key_file)
    return ca_file, context


@pytest.mark.parametrize("trusted", [True, False], ids=["AWS_CA_BUNDLE", "default trust"])
def test_tls_trusts_the_configured_ca_bundle_only(aws_env, tmp_path, trusted):
    ca_file, server_tls = make_ca_and_server_cert(tmp_path)
    if trusted:
        aws_env.setenv("AWS_CA_BUNDLE", str(ca_file))

    async def main() -> Any:
        runner, port, _ = await serve(sqs_like, server_tls)
        aws_env.setenv("AWS_ENDPOINT_URL_SQS", f"https://127.0.0.1:{port}")
        try:
            return await with_sender(
                "us-east-1", f"https://127.0.0.1:{port}/{ACCOUNT_QUEUE}", lambda s: s.send(ENTRIES)
            )
        finally:
            await runner.cleanup()

    if trusted:
        assert len(run(main)["Successful"]) == 2
    else:
        with pytest.raises(aiohttp.ClientConnectorCertificateError):
            run(main)


async def canned_proxy(lines: list[str]) -> tuple[asyncio.Server, int]:
    """An HTTP proxy that records each request line and answers every request itself."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        lines.append(head.split(b"\r\n", 1)[0].decode())
        length = int(re.search(rb"(?i)content-length: *(\d+)", head)[1])  # type: ignore[index]
        entries = json.loads(await reader.readexactly(length))["Entries"]
        body = json.dumps(accepted(entries)).encode()
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/x-amz-json-1.0\r\n"
            + f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
            + body
        )
        await writer.drain()
        writer.close()

    port = free_port()
    return await asyncio.start_server(handle, "127.0.0.1", port), port


@pytest.mark.parametrize("bypass", [False, True], ids=["HTTP_PROXY", "NO_PROXY"])
def test_proxies_come_from_the_environment(aws_env, bypass):
    unreachable = f"http://127.0.0.1:{free_port()}"  # nothing listens: only the proxy answers
    aws_env.setenv("AWS_ENDPOINT_URL_SQS", unreachable)
    if bypass:
        aws_env.setenv("NO_PROXY", "127.0.0.1")
    lines: list[str] = []

    async def main() -> Any:
        server, port = await canned_proxy(lines)
        aws_env.setenv("HTTP_PROXY", f"http://127.0.0.1:{port}")
        try:
            return await with_sender(
                "us-east-1", f"{unreachable}/{ACCOUNT_QUEUE}", lambda s: s.send(ENTRIES)
            )
        finally:
            server.close()

    if bypass:
        with pytest.raises(aiohttp.ClientConnectorError):
            run(main)
        assert lines == []
    else:
        assert len(run(main)["Successful"]) == 2
        assert lines == [f"POST {unreachable}/ HTTP/1.1"]


def test_messages_arrive_in_moto_exactly_as_sent(aws_env):
    server = MotoServer().start()
    try:
        aws_env.setenv("AWS_ENDPOINT_URL_SQS", server.endpoint)
        client = server.client("sqs")
        queue_url = client.create_queue(QueueName=f"fidelity-{free_port()}")["QueueUrl"]
        result = run(lambda: with_sender("us-east-1", queue_url, lambda s: s.send(ENTRIES)))
        messages = read_all_messages(client, queue_url)
    finally:
        server.stop()
    assert sorted(s["Id"] for s in result["Successful"]) == ["0", "1"]  # moto's MD5s matched
    assert result["Failed"] == []
    got = sorted((m["Body"], m["MessageAttributes"]["event_id"]["StringValue"]) for m in messages)
    want = sorted(
        (e["MessageBody"], e["MessageAttributes"]["event_id"]["StringValue"]) for e in ENTRIES
    )
    assert got == want
