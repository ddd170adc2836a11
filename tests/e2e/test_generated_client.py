"""A client generated from the served /schema/openapi.json with a maintained generator (openapi-python-client, a
dev dependency; no network) calls the running server (granian, tests/e2e/server.py) and decodes its answers: a
success into the generated models, and errors into the generated `ErrorBody` (issue 16, item 4)."""

from __future__ import annotations

import importlib
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from tests.e2e.server import RunningServer
from tests.support import PASSWORD, new_email

GENERATOR = Path(sys.executable).parent / "openapi-python-client"
PACKAGE = "cookcam_generated_client"


@pytest.fixture(scope="module")
def generated(server: RunningServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ModuleType]:
    """The package generated from the document the server serves, importable for this module's tests."""
    folder = tmp_path_factory.mktemp("client")
    document = folder / "openapi.json"
    document.write_bytes(httpx.get(f"{server.base_url}/schema/openapi.json").content)
    config = folder / "config.yaml"
    # No post hooks: the generator would run ruff over its output, which changes nothing a test imports.
    config.write_text(f"package_name_override: {PACKAGE}\npost_hooks: []\n")
    output = folder / PACKAGE
    run = [str(GENERATOR), "generate", "--path", str(document), "--config", str(config)]
    result = subprocess.run(
        [*run, "--meta", "none", "--output-path", str(output)], capture_output=True, text=True, timeout=120, check=False
    )
    # Every schema and every operation made it into the client: the generator warns about each one it left out.
    assert result.returncode == 0 and "Warning" not in result.stdout + result.stderr, result.stdout + result.stderr
    sys.path.insert(0, str(folder))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(folder))
        for name in [name for name in sys.modules if name.split(".")[0] == PACKAGE]:
            del sys.modules[name]


def test_the_generated_client_signs_up_and_reads_the_profile(generated: ModuleType, server: RunningServer) -> None:
    sign_up = importlib.import_module(f"{PACKAGE}.api.auth.sign_up")
    get_me = importlib.import_module(f"{PACKAGE}.api.auth.get_me")
    models = importlib.import_module(f"{PACKAGE}.models")
    email = new_email()

    with generated.Client(base_url=server.base_url) as client:
        created = sign_up.sync_detailed(
            client=client, body=models.SignupRequest(email=email, password=PASSWORD, name="Generated")
        )
    assert created.status_code == 201
    assert isinstance(created.parsed, models.AuthResponse) and created.parsed.user.email == email

    with generated.AuthenticatedClient(base_url=server.base_url, token=created.parsed.access_token) as client:
        me = get_me.sync_detailed(client=client)
    assert me.status_code == 200
    assert isinstance(me.parsed, models.User) and me.parsed.id == created.parsed.user.id


def test_errors_decode_into_the_generated_envelope(generated: ModuleType, server: RunningServer) -> None:
    sign_in = importlib.import_module(f"{PACKAGE}.api.auth.sign_in")
    sign_up = importlib.import_module(f"{PACKAGE}.api.auth.sign_up")
    get_me = importlib.import_module(f"{PACKAGE}.api.auth.get_me")
    models = importlib.import_module(f"{PACKAGE}.models")

    with generated.Client(base_url=server.base_url) as client:
        anonymous = get_me.sync_detailed(client=client)
        wrong = sign_in.sync_detailed(client=client, body=models.SigninRequest(email=new_email(), password="x" * 12))
        invalid = sign_up.sync_detailed(
            client=client, body=models.SignupRequest(email="not an address", password=PASSWORD, name="Generated")
        )

    assert anonymous.status_code == 401 and isinstance(anonymous.parsed, models.ErrorBody)
    assert anonymous.parsed.code == "UNAUTHENTICATED"
    assert anonymous.parsed.request_id == anonymous.headers["x-request-id"]
    assert wrong.status_code == 401 and isinstance(wrong.parsed, models.ErrorBody)
    assert wrong.parsed.code == "INVALID_CREDENTIALS"
    assert invalid.status_code == 422 and isinstance(invalid.parsed, models.ErrorBody)
    assert invalid.parsed.code == "VALIDATION_ERROR"
    details = invalid.parsed.details
    assert isinstance(details, list) and all(isinstance(detail, models.ErrorDetail) for detail in details)
    assert [detail.field for detail in details] == ["email"]
