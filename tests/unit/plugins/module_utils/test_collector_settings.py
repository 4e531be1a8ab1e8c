"""The regexes, quoting and sizing behind the collector configurations, checked by running them.

The collector runs span-name rules as OTTL ``replace_pattern`` statements: its config resolver
turns ``$$`` into ``$``, the OTTL parser unquotes each string literal with Go string-literal
rules, RE2 compiles the pattern, and Go's ``ReplaceAllString`` expands ``$1``/``${name}`` in the
replacement. The helpers below do the same four steps in Python (``$$`` to ``$``, json.loads for
the unquoting, ``re`` with ASCII classes for RE2, a ``$`` to ``\\g<>`` translation), on the
statements the gateway filter emits, so these tests see what the collector would produce.
"""

import json
import re

import pytest

from ansible_collections.tracefleet.otel.plugins.module_utils import collector_config as cc
from ansible_collections.tracefleet.otel.plugins.module_utils.collector_settings import memory_mib

_GO_STRING = re.compile(r'"((?:\\.|[^"\\])*)"')


def go_replacement(template):
    """Go regexp Expand syntax ($1, ${1}, $name, ${name}, $$) as a Python re.sub template."""
    out, i = [], 0
    while i < len(template):
        ch = template[i]
        if ch == "$":
            if template[i + 1:i + 2] == "$":
                out.append("$")
                i += 2
                continue
            ref = re.match(r"\{(\w+)\}|(\w+)", template[i + 1:])
            if ref:
                out.append("\\g<%s>" % (ref.group(1) or ref.group(2)))
                i += 1 + ref.end()
                continue
        out.append("\\\\" if ch == "\\" else ch)
        i += 1
    return "".join(out)


def apply_statements(statements, name):
    """Run replace_pattern(span.name, "<re>", "<repl>") statements, as emitted, on a span name."""
    for statement in statements:
        statement = statement.replace("$$", "$")  # what the collector's config resolver does
        assert statement.startswith("replace_pattern(span.name, ")
        pattern, replacement = [json.loads('"%s"' % lit) for lit in _GO_STRING.findall(statement)]
        name = re.sub(pattern, go_replacement(replacement), name, flags=re.ASCII)
    return name


def emitted_statements(rules):
    return cc.gateway_config({"span_name_rules": rules})["processors"]["transform"]["trace_statements"]


DEFAULT_STATEMENTS = emitted_statements(cc.DEFAULT_SPAN_NAME_RULES)


@pytest.mark.parametrize("raw, normalised", [
    ("/orders/12345", "/orders/{id}"),
    ("GET /orders/12345", "GET /orders/{id}"),
    ("GET /orders/12345/items/67", "GET /orders/{id}/items/{id}"),
    ("/users/3f2504e0-4f89-41d3-9a0c-0305e82c3301/cart", "/users/{id}/cart"),
    ("/users/3F2504E0-4F89-41D3-9A0C-0305E82C3301", "/users/{id}"),
    ("/blobs/5f1b8c3a9e2d4f60a7b1c2d3/meta", "/blobs/{id}/meta"),
    ("/commits/4bf92f3577b34da6a3ce929d0e0e4736", "/commits/{id}"),
    ("/orders/12345?expand=items", "/orders/{id}?expand=items"),
    ("/api/v1/orders", "/api/v1/orders"),                # version segments stay
    ("/api/v2/health", "/api/v2/health"),
    ("/orders/12345abc", "/orders/12345abc"),            # not a whole numeric segment
    ("/files/cafe", "/files/cafe"),                      # short hex-looking words stay
    ("/orders/{id}", "/orders/{id}"),                    # already normalised: idempotent
    ("SELECT orders", "SELECT orders"),
])
def test_default_span_name_rules(raw, normalised):
    assert apply_statements(DEFAULT_STATEMENTS, raw) == normalised


def test_default_rules_are_idempotent():
    once = apply_statements(DEFAULT_STATEMENTS, "/a/123/b/3f2504e0-4f89-41d3-9a0c-0305e82c3301")
    assert apply_statements(DEFAULT_STATEMENTS, once) == once == "/a/{id}/b/{id}"


def test_capture_groups_in_custom_rules_use_go_syntax():
    rules = [{"pattern": "^GET /(users|teams)/[^/]+$", "replacement": "GET /${1}/{name}"}]
    statements = emitted_statements(rules)
    assert statements == ['replace_pattern(span.name, "^GET /(users|teams)/[^/]+$$", "GET /$${1}/{name}")']
    assert apply_statements(statements, "GET /teams/core-platform") == "GET /teams/{name}"
    assert apply_statements(statements, "GET /teams/core/members") == "GET /teams/core/members"


@pytest.mark.parametrize("value, escaped", [
    ("end$", "end$$"), ("${env:HOME}", "$${env:HOME}"), ("$$", "$$$$"), ("no dollar", "no dollar"),
])
def test_every_dollar_is_escaped_for_the_config_resolver(value, escaped):
    assert cc.literal({"k": [value], "n": 1}) == {"k": [escaped], "n": 1}


@pytest.mark.parametrize("text", ['plain', 'back\\slash', 'quote " inside', '\\b\\d{3}\\.', 'tab\there'])
def test_ottl_string_round_trips_through_go_unquoting(text):
    literal = cc.ottl_string(text)
    assert literal.startswith('"') and literal.endswith('"')
    assert json.loads(literal) == text


def test_go_quote_meta_makes_literal_keys():
    key = "http.request.header.x-api-key+[v2]"
    pattern = "^" + cc.go_quote_meta(key) + "$"
    assert pattern == "^http\\.request\\.header\\.x-api-key\\+\\[v2\\]$"
    assert re.match(pattern, key)
    assert not re.match(pattern, "httpXrequest.header.x-api-key+[v2]")


EMAIL, CARD = cc.DEFAULT_REDACTION_VALUE_PATTERNS


def masked(pattern, value):
    return re.sub(pattern, "****", value, flags=re.ASCII)


@pytest.mark.parametrize("value, expected", [
    ("alice@example.com", "****"),
    ("contact alice.smith+shop@mail.example.co.uk now", "contact **** now"),
    ("no address here", "no address here"),
    ("user@localhost", "user@localhost"),
])
def test_email_pattern(value, expected):
    assert masked(EMAIL, value) == expected


@pytest.mark.parametrize("value, expected", [
    ("4111111111111111", "****"),                      # Visa
    ("card 4111 1111 1111 1111 charged", "card **** charged"),
    ("4111-1111-1111-1111", "****"),
    ("5500005555555559", "****"),                      # Mastercard
    ("2223003122003222", "****"),                      # Mastercard 2-series
    ("378282246310005", "****"),                       # Amex
    ("6011111111111117", "****"),                      # Discover
    ("4bf92f3577b34da6a3ce929d0e0e4736", "4bf92f3577b34da6a3ce929d0e0e4736"),   # a trace id
    ("12345678901234567890123456789012", "12345678901234567890123456789012"),   # long decimal id
    ("1732480000000", "1732480000000"),                # a millisecond timestamp
    ("2026-11-24", "2026-11-24"),
    ("+1 555 123 4567", "+1 555 123 4567"),
])
def test_card_number_pattern(value, expected):
    assert masked(CARD, value) == expected


@pytest.mark.parametrize("key, hit", [
    ("http.request.header.authorization", True),
    ("http.request.header.proxy-authorization", True),
    ("rpc.grpc.request.metadata.Authorization", True),
    ("http.request.header.cookie", True),
    ("http.response.header.set-cookie", True),
    ("http.request.header.x-api-key", True),
    ("api_key", True),
    ("http.route", False),
    ("gen_ai.usage.input_tokens", False),
    ("tracefleet.probe", False),
])
def test_default_key_patterns(key, hit):
    assert any(re.search(p, key) for p in cc.DEFAULT_REDACTION_KEY_PATTERNS) is hit


@pytest.mark.parametrize("quantity, mib", [
    ("2Gi", 2048), ("1536Mi", 1536), ("1.5Gi", 1536), ("2G", 1907), ("1048576Ki", 1024),
    ("2147483648", 2048), (2147483648, 2048), ("1Ti", 1048576),
])
def test_memory_quantities(quantity, mib):
    assert memory_mib(quantity) == mib


@pytest.mark.parametrize("quantity", ["2 Gi", "2GB", "-1Gi", "", "Gi", True, None, 2.5])
def test_memory_quantities_rejected(quantity):
    with pytest.raises((ValueError, TypeError)):
        memory_mib(quantity)
