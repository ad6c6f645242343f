"""A loopback HTTP proxy in front of moto that makes SendMessageBatch entries fail like SQS.

AWS reports a failed entry in `Failed` (with `SenderFault: false` for a server-side failure)
and does not enqueue it. This proxy does the same honestly: it removes the chosen entries from
the request before moto sees it, so moto never stores them, and adds them to the response's
`Failed` list. Which entries fail is decided by the event id (the `event_id` attribute):

- `flaky-*`: the first attempt fails (InternalError), later attempts pass through.
- `doomed-*`: every attempt fails.
- `boom-*`: the first call containing it fails as a whole with HTTP 500 (InternalError).
- `slow-*`: the call containing it is held for SLOW_SECONDS before it goes to moto.
"""

from __future__ import annotations

import http.client
import json
import threading
import time
from collections import Counter
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from local.servers import free_port

TARGET = "AmazonSQS.SendMessageBatch"
SLOW_SECONDS = 4.0


class FaultProxy:
    def __init__(self, upstream_port: int) -> None:
        self.upstream_port = upstream_port
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.attempts: Counter[str] = Counter()
        self.batch_calls = 0
        self._lock = threading.Lock()
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, format: str, *args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                target = self.headers.get("X-Amz-Target", "")
                failed: list[dict[str, Any]] = []
                if target == TARGET:
                    request = json.loads(body)
                    keep = []
                    whole_call_error = False
                    if any(
                        e["MessageAttributes"]["event_id"]["StringValue"].startswith("slow-")
                        for e in request["Entries"]
                    ):
                        time.sleep(SLOW_SECONDS)
                    with proxy._lock:
                        proxy.batch_calls += 1
                        for entry in request["Entries"]:
                            event_id = entry["MessageAttributes"]["event_id"]["StringValue"]
                            proxy.attempts[event_id] += 1
                            n = proxy.attempts[event_id]
                            if event_id.startswith("boom-") and n == 1:
                                whole_call_error = True
                            if (event_id.startswith("flaky-") and n == 1) or event_id.startswith(
                                "doomed-"
                            ):
                                failed.append(
                                    {
                                        "Id": entry["Id"],
                                        "SenderFault": False,
                                        "Code": "InternalError",
                                        "Message": "injected by the test proxy",
                                    }
                                )
                            else:
                                keep.append(entry)
                    if whole_call_error:
                        self._answer(
                            500,
                            json.dumps(
                                {"__type": "InternalError", "message": "injected whole-call"}
                            ).encode(),
                        )
                        return
                    if not keep:
                        self._answer(200, json.dumps({"Successful": [], "Failed": failed}).encode())
                        return
                    request["Entries"] = keep
                    body = json.dumps(request).encode()
                status, payload = self._forward(body)
                if failed and status == 200:
                    response = json.loads(payload)
                    response.setdefault("Failed", []).extend(failed)
                    payload = json.dumps(response).encode()
                self._answer(status, payload)

            def _forward(self, body: bytes) -> tuple[int, bytes]:
                conn = http.client.HTTPConnection("127.0.0.1", proxy.upstream_port, timeout=10)
                headers = {
                    k: v for k, v in self.headers.items() if k.lower() not in ("content-length",)
                }
                conn.request("POST", self.path, body=body, headers=headers)
                response = conn.getresponse()
                payload = response.read()
                conn.close()
                return response.status, payload

            def _answer(self, status: int, payload: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/x-amz-json-1.0")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> FaultProxy:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
