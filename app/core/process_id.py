"""This process's id without a system call per use.

os.getpid() is a system call, and the access log (every LogRecord) and the metrics (every increment) would ask it on
every request: on this project's 2-core VM it was 5 % of a worker's time on /auth/me (docs/benchmarks.md, "Where the
time goes (2026-12-07)"). A forked child learns its own id from a fork handler; a spawned process imports this
module afresh.
"""

from __future__ import annotations

import os

_process_id = os.getpid()


def current_process_id() -> int:
    return _process_id


def _forked() -> None:
    global _process_id  # noqa: PLW0603 - the one fact a fork changes
    _process_id = os.getpid()


os.register_at_fork(after_in_child=_forked)
