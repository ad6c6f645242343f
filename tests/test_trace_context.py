"""contract.trace: the W3C `traceparent` and X-Ray header forms of one trace context, and the
message that carries it (`AWSTraceHeader` system attribute + `traceparent` attribute)."""

from __future__ import annotations

import pytest

from contract import Event, TraceContext, parse_traceparent, parse_xray

# W3C Trace Context's example, and X-Ray's developer guide's.
W3C_EXAMPLE = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
XRAY_EXAMPLE = "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"


def test_the_w3c_example_parses_and_round_trips():
    trace = parse_traceparent(W3C_EXAMPLE)
    assert trace is not None
    assert trace == TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", True)
    assert trace.traceparent() == W3C_EXAMPLE
    assert trace.xray_trace_id == "1-4bf92f35-77b34da6a3ce929d0e0e4736"
    assert trace.aws_trace_header() == (
        "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;Sampled=1"
    )
    assert parse_xray(trace.aws_trace_header()) == trace
    assert parse_traceparent(W3C_EXAMPLE[:-2] + "00") == TraceContext(
        trace.trace_id, trace.parent_id, False
    )


def test_the_xray_example_parses_and_round_trips():
    trace = parse_xray(XRAY_EXAMPLE)
    assert trace is not None
    assert trace == TraceContext("5759e988bd862e3fe1be46a994272793", "53995c3f42cd8ad8", True)
    assert trace.aws_trace_header() == XRAY_EXAMPLE
    assert trace.traceparent() == "00-5759e988bd862e3fe1be46a994272793-53995c3f42cd8ad8-01"


@pytest.mark.parametrize(
    ("value", "sampled"),
    [
        (" " + W3C_EXAMPLE + "\t", True),  # optional whitespace around a header value
        ("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-03-future", True),
        ("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-02", False),  # other flags only
    ],
)
def test_traceparent_forms_the_spec_allows(value, sampled):
    trace = parse_traceparent(value)
    assert trace is not None
    assert (trace.trace_id, trace.sampled) == ("4bf92f3577b34da6a3ce929d0e0e4736", sampled)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "garbage",
        "ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",  # version ff is invalid
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra",  # 00 has 4 fields
        "00-00000000000000000000000000000000-00f067aa0ba902b7-01",  # all-zero trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",  # all-zero parent id
        "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01",  # upper-case hex
        "00-4bf92f3577b34da6a3ce929d0e0e473-00f067aa0ba902b7-01",  # short trace id
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-1",
        "00_4bf92f3577b34da6a3ce929d0e0e4736_00f067aa0ba902b7_01",
        XRAY_EXAMPLE,
    ],
)
def test_malformed_traceparent_is_none(value):
    assert parse_traceparent(value) is None


@pytest.mark.parametrize(
    ("value", "parent", "sampled"),
    [
        ("Root=1-5759e988-bd862e3fe1be46a994272793", "", None),
        ("Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=?", "", None),
        (
            "Sampled=0; Parent=53995c3f42cd8ad8 ;Root=1-5759e988-bd862e3fe1be46a994272793",
            "53995c3f42cd8ad8",
            False,
        ),
        (
            XRAY_EXAMPLE + ";Self=1-67891234-abcdef012345678912345678;Lineage=a87bd80c:0",
            "53995c3f42cd8ad8",
            True,
        ),
        (XRAY_EXAMPLE + ";", "53995c3f42cd8ad8", True),
    ],
)
def test_xray_forms_that_parse(value, parent, sampled):
    trace = parse_xray(value)
    assert trace == TraceContext("5759e988bd862e3fe1be46a994272793", parent, sampled)


@pytest.mark.parametrize(
    "value",
    [
        "",
        "Parent=53995c3f42cd8ad8;Sampled=1",  # no Root
        "Root=2-5759e988-bd862e3fe1be46a994272793",  # only version 1 exists
        "Root=1-5759e988-bd862e3fe1be46a99427279",
        "Root=1-5759E988-bd862e3fe1be46a994272793",
        "Root=1-00000000-000000000000000000000000",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=xyz",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=0000000000000000",
        "Root=1-5759e988-bd862e3fe1be46a994272793;Sampled=yes",
        "Root=1-5759e988-bd862e3fe1be46a994272793;junk",
        W3C_EXAMPLE,
    ],
)
def test_malformed_xray_is_none(value):
    assert parse_xray(value) is None


def test_the_message_carries_the_trace_twice_and_sqs_counts_only_the_attribute():
    trace = TraceContext("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7", False)
    event = Event(id="t-1", type="a.b", data={})
    plain = event.to_message()
    traced = event.to_message(trace=trace)
    assert plain.system_attributes is None
    assert traced.body == plain.body
    assert traced.attributes == {
        **plain.attributes,
        "traceparent": {"DataType": "String", "StringValue": trace.traceparent()},
    }
    assert traced.system_attributes == {
        "AWSTraceHeader": {
            "DataType": "String",
            "StringValue": "Root=1-4bf92f35-77b34da6a3ce929d0e0e4736;Parent=00f067aa0ba902b7;"
            "Sampled=0",
        }
    }
    # The attribute's name, data type and 55-character value count; the system attribute
    # does not ("The size of a message system attribute doesn't count towards the total size
    # of a message", SendMessage's API reference).
    assert traced.size == plain.size + len("traceparent") + len("String") + 55
