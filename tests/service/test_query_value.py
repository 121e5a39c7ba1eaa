"""The callback secret is read from the raw query string as Starlette's QueryParams reads it."""

from __future__ import annotations

from hypothesis import given, strategies as st
from starlette.datastructures import QueryParams

from service.web.auth import query_value

_PIECES = st.sampled_from(["secret", "secrets", "xsecret", "s", "=", "&", "%", "%3D", "%26", "+", "%2B", "é", "a", "1"])


@given(st.lists(_PIECES, max_size=12).map("".join))
def test_reads_the_secret_as_query_params_does(query: str) -> None:
    raw = query.encode()
    assert query_value(raw, "secret") == QueryParams(raw).get("secret", "")


def test_examples() -> None:
    assert query_value(b"secret=a%2Bb+c&other=1", "secret") == "a+b c"
    assert query_value(b"secrets=no&xsecret=no", "secret") == ""
    assert query_value(b"secret=first&secret=last", "secret") == "last"
