"""./dev's own reading of .env: it decides whether what it starts defaults to APP_ENV=development."""

from __future__ import annotations

import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _app_env_after_default(env_file: str, tmp_path: Path) -> str:
    """Runs ./dev's default_to_development (extracted, so nothing is installed) in a folder with that .env."""
    (tmp_path / ".env").write_text(env_file)
    script = (REPO / "dev").read_text()
    function = script[script.index("default_to_development() {") :].split("\n}\n", 1)[0] + "\n}\n"
    result = subprocess.run(
        ["bash", "-c", f'{function}cd "$1" && default_to_development && echo "${{APP_ENV:-}}"', "dev", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": "/usr/bin:/bin"},
    )
    return result.stdout.strip()


def test_an_app_env_in_dot_env_is_seen_however_python_dotenv_accepts_it(tmp_path: Path) -> None:
    for line in ("APP_ENV=test", "export APP_ENV=test", "  export  APP_ENV = test  # the CI box"):
        assert _app_env_after_default(line + "\n", tmp_path) == "", line  # left to .env: the app reads it
    for line in ("# APP_ENV=production", "APP_ENV=", "APP_ENVIRONMENT=test"):
        assert _app_env_after_default(line + "\n", tmp_path) == "development", line
