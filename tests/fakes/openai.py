"""A loopback fake of an OpenAI-compatible Chat Completions API (POST /v1/chat/completions), speaking its wire
format: bearer authentication, `response_format` with a strict JSON schema, `chat.completion` objects with choices,
finish reasons, refusals and token usage, and error envelopes (`{"error": {...}}`) with Retry-After on 429.

Tests script the next replies (structured JSON, malformed text, a refusal, a cut-off reply, an HTTP status, a delay)
or set `respond` to compute a reply from the request; every request is recorded."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from tests.fakes.loopback import QuietHandler, serving

API_KEY = "sk-fake-" + "k" * 32


@dataclass
class Scripted:
    status: int = 200
    content: str | None = None
    refusal: str | None = None
    finish_reason: str = "stop"
    delay: float = 0.0
    retry_after: int | None = None
    prompt_tokens: int = 120
    completion_tokens: int = 80


@dataclass
class FakeOpenAI:
    base_url: str = ""
    # Computes the JSON reply from the request body when nothing is scripted.
    respond: Callable[[dict[str, Any]], Any] | None = None
    requests: list[dict[str, Any]] = field(default_factory=list)
    _script: list[Scripted] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def reply_json(self, value: Any, *, prompt_tokens: int = 120, completion_tokens: int = 80) -> None:
        self._push(
            Scripted(content=json.dumps(value), prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        )

    def reply_text(self, content: str) -> None:
        """A reply that is not the requested JSON (models do this, strict mode or not)."""
        self._push(Scripted(content=content))

    def reply_refusal(self, text: str = "I can't help with that.") -> None:
        self._push(Scripted(refusal=text))

    def reply_cut_off(self, value: Any) -> None:
        """finish_reason "length": the JSON was cut at the token limit."""
        self._push(Scripted(content=json.dumps(value)[:20], finish_reason="length"))

    def reply_status(self, status: int, *, times: int = 1, retry_after: int | None = None) -> None:
        for _ in range(times):
            self._push(Scripted(status=status, retry_after=retry_after))

    def reply_slowly(self, seconds: float, value: Any) -> None:
        self._push(Scripted(content=json.dumps(value), delay=seconds))

    def _push(self, scripted: Scripted) -> None:
        with self._lock:
            self._script.append(scripted)

    def handle(self, headers: dict[str, str], body: dict[str, Any]) -> tuple[Scripted, dict[str, Any]]:
        with self._lock:
            self.requests.append(body)
            scripted = self._script.pop(0) if self._script else None
        if headers.get("authorization") != f"Bearer {API_KEY}":
            error = {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "code": "invalid_api_key",
            }
            return Scripted(status=401), {"error": error}
        schema = body.get("response_format", {}).get("json_schema", {})
        if not schema.get("strict") or "schema" not in schema:
            return Scripted(status=400), {"error": {"message": "response_format.json_schema required", "type": "x"}}
        if scripted is None:
            if self.respond is None:
                return Scripted(status=500), {"error": {"message": "nothing scripted", "type": "server_error"}}
            scripted = Scripted(content=json.dumps(self.respond(body)))
        if scripted.status != 200:
            kind = "rate_limit_exceeded" if scripted.status == 429 else "server_error"
            return scripted, {"error": {"message": f"HTTP {scripted.status}", "type": kind}}
        message = {"role": "assistant", "content": scripted.content, "refusal": scripted.refusal}
        return scripted, {
            "id": f"chatcmpl-{uuid.uuid4().hex[:24]}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": body.get("model"),
            "choices": [{"index": 0, "message": message, "finish_reason": scripted.finish_reason}],
            "usage": {
                "prompt_tokens": scripted.prompt_tokens,
                "completion_tokens": scripted.completion_tokens,
                "total_tokens": scripted.prompt_tokens + scripted.completion_tokens,
            },
        }


@contextmanager
def fake_openai(*, keep_alive: bool = False) -> Iterator[FakeOpenAI]:
    """`keep_alive`: HTTP/1.1 persistent connections, as the provider keeps them (the bench); the tests' default
    closes each connection (HTTP/1.0)."""
    state = FakeOpenAI()

    class Handler(QuietHandler):
        protocol_version = "HTTP/1.1" if keep_alive else "HTTP/1.0"

        def do_POST(self) -> None:
            body = json.loads(self.body() or b"{}")
            if self.path != "/v1/chat/completions":
                scripted, payload = Scripted(status=404), {"error": {"message": "Unknown URL", "type": "x"}}
            else:
                scripted, payload = state.handle({k.lower(): v for k, v in self.headers.items()}, body)
            time.sleep(scripted.delay)
            extra = {"Retry-After": str(scripted.retry_after)} if scripted.retry_after is not None else {}
            self.reply(scripted.status, json.dumps(payload).encode(), headers=extra)

    with serving(Handler) as base_url:
        state.base_url = f"{base_url}/v1"
        yield state
