from __future__ import annotations

from app.core.http import create_http_client
from app.core.request_context import request_id_var
from tests.fakes.recording_server import recording_server


async def test_outbound_calls_carry_the_request_id() -> None:
    with recording_server() as (base_url, received):
        async with create_http_client() as client:
            token = request_id_var.set("req-outbound-1")
            try:
                response = await client.get(base_url + "/v1/thing")
            finally:
                request_id_var.reset(token)
            outside = await client.get(base_url + "/v1/other")
    assert response.status_code == 200 and outside.status_code == 200
    assert received[0].headers["x-request-id"] == "req-outbound-1"
    assert "x-request-id" not in received[1].headers  # no request being served, nothing to carry
    assert received[0].headers["user-agent"] == "cookcam-api"
