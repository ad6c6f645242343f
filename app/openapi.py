"""The OpenAPI 3.1 document of the API, built around the shared event schema.

OpenAPI 3.1 schemas are JSON Schema (2020-12), so the contract's draft-07 schema is embedded
as is, minus `$schema` (a 3.1 Schema Object may carry one, but many generators choke on a
draft-07 dialect URI).
"""

from __future__ import annotations

from typing import Any

from contract import EVENT_ID, EVENT_SCHEMA, MAX_DATA_DEPTH, MAX_MESSAGE_BYTES


def _error(description: str, *, retry_after: bool = False) -> dict[str, Any]:
    response: dict[str, Any] = {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
    if retry_after:
        response["headers"] = {
            "Retry-After": {
                "description": "Seconds to wait before retrying with the same event id.",
                "schema": {"type": "integer", "minimum": 1},
            }
        }
    return response


def document(*, bearer: bool = False, metrics: bool = True) -> dict[str, Any]:
    """The document of the API as this process serves it: with `bearer`, POST /events needs a
    bearer token (401/403); without `metrics`, /metrics is on its own port, not in this API."""
    doc = _document()
    if bearer:
        post = doc["paths"]["/events"]["post"]
        post["security"] = [{"bearerAuth": []}]
        post["responses"]["401"] = _error(
            "No bearer token, or one that is malformed, expired, not yet valid, for another "
            "audience or issuer, or not signed by one of the issuer's keys; "
            "`WWW-Authenticate: Bearer` says which (RFC 6750). Nothing was enqueued."
        )
        post["responses"]["403"] = _error(
            "A valid token without the required scope (`WWW-Authenticate: Bearer "
            'error="insufficient_scope"`). Nothing was enqueued.'
        )
        doc["components"]["securitySchemes"] = {
            "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}
        }
    if not metrics:
        del doc["paths"]["/metrics"]
    return doc


def _document() -> dict[str, Any]:
    event_schema = {k: v for k, v in EVENT_SCHEMA.items() if k != "$schema"}
    text = {"text/plain": {"schema": {"type": "string"}}}
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "ecr-eks-lambda events API",
            "version": "1.0.0",
            "description": (
                "Accepts events and enqueues each on SQS exactly as validated. A 202 means SQS "
                "has durably accepted the event. Delivery is at-least-once: the consumer "
                f"de-duplicates by `id` (also sent as the `{EVENT_ID.name}` message "
                "attribute), so clients should send their own `id` and reuse it on retry."
            ),
        },
        "paths": {
            "/events": {
                "post": {
                    "operationId": "postEvent",
                    "summary": "Enqueue one event",
                    "parameters": [
                        {
                            "name": "traceparent",
                            "in": "header",
                            "required": False,
                            "description": (
                                "W3C Trace Context: the event joins this trace. Malformed, "
                                "it is ignored and a new trace starts (never an error)."
                            ),
                            "schema": {"type": "string"},
                        },
                        {
                            "name": "X-Amzn-Trace-Id",
                            "in": "header",
                            "required": False,
                            "description": (
                                "X-Ray's trace header, used when there is no valid "
                                "`traceparent`; malformed, it is ignored likewise."
                            ),
                            "schema": {"type": "string"},
                        },
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/json": {"schema": {"$ref": "#/components/schemas/Event"}}
                        },
                    },
                    "responses": {
                        "202": {
                            "description": "SQS accepted the event.",
                            "content": {
                                "application/json": {
                                    "schema": {"$ref": "#/components/schemas/Accepted"}
                                }
                            },
                        },
                        "400": _error(
                            "The body is not JSON text (RFC 8259: UTF-8, no NaN or Infinity), "
                            "or its framing is broken."
                        ),
                        "408": _error(
                            "The body did not arrive within the body deadline; the connection "
                            "is closed."
                        ),
                        "413": _error(
                            f"The enqueued event would exceed {MAX_MESSAGE_BYTES} bytes."
                        ),
                        "415": _error("The Content-Type is not application/json."),
                        "422": _error(
                            "The event violates the schema or the contract's limits (nesting "
                            f"deeper than {MAX_DATA_DEPTH} levels inside `data`, duplicate "
                            "keys, numbers outside an IEEE-754 double, characters SQS refuses); "
                            "`field` names where."
                        ),
                        "503": _error(
                            "SQS did not accept the event (unreachable, throttling, "
                            "shutting down), or the service is busy (too many bodies or "
                            "connections in progress); nothing was acknowledged. "
                            "Retry with the same id.",
                            retry_after=True,
                        ),
                    },
                }
            },
            "/healthz": {
                "get": {
                    "operationId": "getHealth",
                    "summary": "Liveness: the process is serving",
                    "responses": {"200": {"description": "Serving."}},
                }
            },
            "/readyz": {
                "get": {
                    "operationId": "getReady",
                    "summary": "Readiness: the queue is reachable and the app is not stopping",
                    "responses": {
                        "200": {"description": "Ready."},
                        "503": {"description": "Not ready (queue unreachable or draining)."},
                    },
                }
            },
            "/metrics": {
                "get": {
                    "operationId": "getMetrics",
                    "summary": "Prometheus metrics (text format 0.0.4)",
                    "responses": {"200": {"description": "Metrics.", "content": text}},
                }
            },
            "/openapi.json": {
                "get": {
                    "operationId": "getOpenApi",
                    "summary": "This document",
                    "responses": {"200": {"description": "The OpenAPI document."}},
                }
            },
        },
        "components": {
            "schemas": {
                "Event": event_schema,
                "Accepted": {
                    "type": "object",
                    "required": ["id", "trace_id"],
                    "properties": {
                        "id": {"type": "string", "description": "The event id."},
                        "trace_id": {
                            "type": "string",
                            "description": (
                                "The trace the event travels in, as X-Ray spells it "
                                "(`1-xxxxxxxx-xxxxxxxxxxxxxxxxxxxxxxxx`): the client's, from "
                                "`traceparent` or `X-Amzn-Trace-Id`, else a new one. The app's "
                                "and the consumer's log lines carry it as `trace_id`."
                            ),
                        },
                    },
                },
                "Error": {
                    "type": "object",
                    "required": ["error"],
                    "properties": {
                        "error": {"type": "string", "description": "What went wrong."},
                        "field": {
                            "type": "string",
                            "description": "The offending field (`$` = the whole body).",
                        },
                        "id": {
                            "type": "string",
                            "description": "The event id, when one was known; reuse it on retry.",
                        },
                    },
                },
            }
        },
    }
