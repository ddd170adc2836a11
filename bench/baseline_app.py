"""The baseline: a bare Litestar app with one small JSON route, served by granian exactly as `cookcam serve` serves
the real app (same interface, worker count, event loop and access-log setting), so that the difference between the
two is the app's own middleware, dependencies and database work. The peers (bench/peers/) are served the same way.

    python -m bench.baseline_app --port 8100 --workers 2
"""

from __future__ import annotations

import argparse

import msgspec
from litestar import Litestar, get


class Greeting(msgspec.Struct, frozen=True):
    status: str


@get("/")
async def hello() -> Greeting:
    return Greeting(status="ok")


app = Litestar(route_handlers=[hello], debug=False, logging_config=None)


def serve(target: str, description: str | None, *, factory: bool = False) -> None:
    """`target` (module:attribute; with `factory`, a function that builds the app in each worker) under granian
    with the settings `cookcam serve` uses, on the port and worker count given on the command line."""
    from granian import Granian  # noqa: PLC0415 - only the server process needs it
    from granian.constants import Interfaces, Loops  # noqa: PLC0415

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--workers", type=int, default=1)
    args = parser.parse_args()
    Granian(
        target,
        interface=Interfaces.ASGI,
        loop=Loops.asyncio,  # the same event loop cookcam serve uses
        address="127.0.0.1",
        port=args.port,
        workers=args.workers,
        log_access=False,
        factory=factory,
    ).serve()


if __name__ == "__main__":
    serve("bench.baseline_app:app", __doc__.splitlines()[0] if __doc__ else None)
