"""The UI guard's rules, case by case (the real server is tested in test_end_to_end)."""

import pytest

from sview_assets.ui.guard import is_get_mutation, refusal

PORT = 3000
LOCAL = {"host": "127.0.0.1:3000"}


@pytest.mark.parametrize(
    "query, refused",
    [
        ("query=mutation%20%7B%20launchRun%20%7D", True),
        ("query=mutation+Wipe+%7B+wipeAssets%28assetPartitionRanges%3A+%5B%5D%29+%7B+__typename+%7D+%7D", True),
        ("query=%7B%20version%20%7D", False),
        ("query=query%20Q%20%7B%20version%20%7D&query=mutation%20%7B%20x%20%7D", True),
        ("query=%7B%20not%20graphql", True),
        ("", False),
    ],
)
def test_mutations_over_get_are_recognised(query, refused):
    assert is_get_mutation("GET", "/graphql", query) is refused
    assert not is_get_mutation("POST", "/graphql", query)


@pytest.mark.parametrize(
    "headers, expected",
    [
        (LOCAL, None),
        ({"host": "localhost:3000", "origin": "http://localhost:3000"}, None),
        ({"host": "127.0.0.1:3000", "origin": "http://127.0.0.1:3000"}, None),
        ({"host": "evil.example:3000"}, "Host 'evil.example:3000' is not this machine's local address"),
        ({"host": "127.0.0.1:3001"}, "is not this machine's local address"),
        ({"host": "127.0.0.1:3000", "origin": "https://evil.example"}, "Requests from the web page at 'https://evil.example' are refused"),
        ({"host": "127.0.0.1:3000", "origin": "null"}, "are refused"),
    ],
)
def test_host_and_origin_must_be_this_machine(headers, expected):
    reason = refusal(headers, PORT, "POST", "/graphql", "")
    assert (reason is None) if expected is None else (expected in reason)


def test_get_mutation_refused_even_from_the_local_page():
    assert (
        refusal({**LOCAL, "origin": "http://127.0.0.1:3000"}, PORT, "GET", "/graphql", "query=mutation%20%7B%20x%20%7D")
        == "GraphQL mutations must be sent with POST."
    )
