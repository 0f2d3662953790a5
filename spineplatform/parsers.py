"""JSON request bodies with a nesting limit, checked before parsing.

`json.loads` recurses once per nesting level: a body of 100,000 '[' raises RecursionError, a 500 on any
endpoint that parses JSON. The depth is measured here without recursion, on the raw text, so a deep body is
refused (400) before the parser ever sees it.
"""
from __future__ import annotations

import json
import re

from django.conf import settings
from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser
from rest_framework.utils import json as drf_json

DEFAULT_MAX_DEPTH = 64

# A JSON string literal (escapes included), unrolled so that the regex engine does not backtrack.
_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")


class JSONTooDeep(ValueError):
    """A JSON document nested deeper than allowed; the message is fit to show to the client."""

    def __init__(self, max_depth: int):
        super().__init__(f"JSON nested deeper than {max_depth} levels")
        self.max_depth = max_depth


def json_depth_check(text: str, max_depth: int = DEFAULT_MAX_DEPTH) -> None:
    """Raises JSONTooDeep when arrays/objects in `text` nest deeper than `max_depth`.

    Brackets inside string literals do not count. Malformed JSON is left for the parser to report, except that
    an unterminated string's brackets are counted (the document is refused either way).
    """
    brackets = _NOT_BRACKET.sub("", _STRING.sub("", text))
    if len(brackets) <= max_depth:
        return
    depth = 0
    for bracket in brackets:
        if bracket in "[{":
            depth += 1
            if depth > max_depth:
                raise JSONTooDeep(max_depth)
        else:
            depth -= 1


def json_loads_limited(body: bytes | str, max_depth: int = DEFAULT_MAX_DEPTH, **loads_kwargs):
    """`json.loads` for untrusted bodies: JSONTooDeep (a ValueError) when nested deeper than `max_depth`.

    Other errors are json.loads' own (json.JSONDecodeError, UnicodeDecodeError: both ValueError), so a caller
    that already catches ValueError needs no change.
    """
    text = body.decode("utf-8") if isinstance(body, (bytes, bytearray)) else body
    json_depth_check(text, max_depth)
    return json.loads(text, **loads_kwargs)


class DepthLimitedJSONParser(JSONParser):
    """DRF's JSONParser with the depth check first: 400 "JSON nested deeper than N levels"."""

    def parse(self, stream, media_type=None, parser_context=None):
        parser_context = parser_context or {}
        encoding = parser_context.get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding)
        except UnicodeDecodeError as error:
            raise ParseError(f"JSON parse error - {error}")
        max_depth = getattr(settings, "JSON_MAX_DEPTH", DEFAULT_MAX_DEPTH)
        parse_constant = drf_json.strict_constant if self.strict else None
        try:
            return json_loads_limited(text, max_depth, parse_constant=parse_constant)
        except JSONTooDeep as error:
            raise ParseError(str(error))
        except ValueError as error:
            raise ParseError(f"JSON parse error - {error}")
