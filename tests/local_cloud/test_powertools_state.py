"""Two requests answered at once by Powertools' event handler, on two threads of the local
cloud's one process (two execution environments), each see their own request, as each
environment's process does on Lambda."""

from __future__ import annotations

import threading
from typing import Any

from aws_lambda_powertools.event_handler import APIGatewayRestResolver

from local_cloud.runtime import powertools_state


def rest_event(path: str) -> dict[str, Any]:
    return {
        "resource": "/orders/{reference}",
        "path": path,
        "httpMethod": "GET",
        "headers": {},
        "multiValueHeaders": {},
        "queryStringParameters": None,
        "pathParameters": {"reference": path.rsplit("/", 1)[-1]},
        "requestContext": {"resourcePath": "/orders/{reference}", "httpMethod": "GET"},
        "body": None,
        "isBase64Encoded": False,
    }


def test_concurrent_requests_each_read_their_own_event() -> None:
    powertools_state.install()
    app = APIGatewayRestResolver()
    both_routed = threading.Barrier(2, timeout=5)
    seen: dict[str, str] = {}

    @app.get("/orders/<reference>")
    def get_order(reference: str) -> dict[str, Any]:
        both_routed.wait()  # the other request has been routed (its event set) meanwhile
        seen[reference] = app.current_event.path
        return {}

    def answer(reference: str) -> None:
        app.resolve(rest_event(f"/orders/{reference}"), None)  # type: ignore[arg-type]

    threads = [threading.Thread(target=answer, args=(r,)) for r in ("A-1", "B-2")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)

    assert seen == {"A-1": "/orders/A-1", "B-2": "/orders/B-2"}
