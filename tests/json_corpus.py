"""Bodies the contract refuses, shared by the contract's, the app's and the handler's tests, so
producer and consumer are held to the same rules.

Each entry: (name, body, not_json, field). `not_json` means the body is not JSON text at all
(the app answers 400); otherwise it is JSON beyond the contract's limits (422).
"""

from __future__ import annotations

import json


def event(data: str) -> bytes:
    """An otherwise valid event whose `data` is this JSON text (written as is)."""
    return b'{"id":"hostile-1","type":"a.b","data":' + data.encode("utf-8", "surrogatepass") + b"}"


def nested(levels: int, opener: str = '{"a":', closer: str = "}") -> str:
    """`data` `levels` containers deep, counting data's own object (the contract's measure)."""
    return opener * (levels - 1) + "{}" + closer * (levels - 1)


CORPUS: list[tuple[str, bytes, bool, str]] = [
    # Nesting: refused before anything recurses (50,000 levels raised RecursionError).
    ("deep arrays", event('{"x":' + "[" * 50_000 + "]" * 50_000 + "}"), False, "data"),
    ("deep objects", event(nested(50_000)), False, "data"),
    ("deep and unclosed", event('{"x":' + "[" * 50_000), False, "data"),
    ("one level too deep", event(nested(65)), False, "data"),
    # data's object, then 32 arrays each holding an object: 65 levels.
    (
        "deep, arrays of objects",
        event('{"x":' + '[{"a":' * 32 + "1" + "}]" * 32 + "}"),
        False,
        "data",
    ),
    # Not JSON although Python reads them.
    ("NaN", event('{"x":NaN}'), True, "data.x"),
    ("Infinity", event('{"x":Infinity}'), True, "data.x"),
    ("-Infinity in a list", event('{"x":[1,-Infinity]}'), True, "data.x[1]"),
    # Numbers no IEEE-754 double holds (1e999 became inf, re-encoded as Infinity).
    ("1e999", event('{"x":1e999}'), False, "data.x"),
    ("-1e400", event('{"y":{"x":-1e400}}'), False, "data.y.x"),
    ("400-digit integer", event('{"x":' + "9" * 400 + "}"), False, "data.x"),
    ("5000-digit integer", event('{"x":-' + "9" * 5000 + "}"), False, "data.x"),
    ("310-digit float", event('{"x":' + "9" * 310 + ".5}"), False, "data.x"),
    # Duplicate keys (Python keeps the last one silently).
    ("duplicate type", b'{"type":"a.b","type":"c.d","data":{}}', False, "type"),
    ("duplicate key in data", event('{"a":{"k":1,"k":2}}'), False, "data.a.k"),
    # Encodings: RFC 8259 8.1 allows UTF-8 only.
    ("invalid UTF-8", b'{"type":"a.b","data":{"k":"a\xffb"}}', True, "$"),
    ("overlong UTF-8", b'{"type":"a.b","data":{"k":"\xc0\xaf"}}', True, "$"),
    ("UTF-8-encoded surrogate", b'{"type":"a.b","data":{"k":"\xed\xa0\x80"}}', True, "$"),
    ("UTF-16", json.dumps({"type": "a.b", "data": {}}).encode("utf-16"), True, "$"),
    ("UTF-32", json.dumps({"type": "a.b", "data": {}}).encode("utf-32"), True, "$"),
    ("byte order mark", b"\xef\xbb\xbf" + event("{}"), True, "$"),
    # Control characters: raw ones are not allowed in JSON strings.
    ("raw control character", event('{"k":"a\x01b"}'), True, "$"),
    ("raw NUL", event('{"k":"a\x00b"}'), True, "$"),
    ("raw control character in a key", event('{"k\x1f":1}'), True, "$"),
    ("NUL between tokens", event('{"k":1}\x00'), True, "$"),
    # Not one JSON text.
    ("trailing garbage", event("{}") + b" x", True, "$"),
    ("two JSON texts", event("{}") + event("{}"), True, "$"),
    ("single quotes", b"{'type':'a.b','data':{}}", True, "$"),
    ("trailing comma", b'{"type":"a.b","data":{},}', True, "$"),
    ("comment", b'{"type":"a.b","data":{} /* x */}', True, "$"),
]
