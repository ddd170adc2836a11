"""The single-machine and container recipes say what they do: nginx names no version, the image runs production
unless told otherwise, the systemd units list the jobs that exist and sandbox the jobs as tightly as the API."""

from __future__ import annotations

import configparser
import re
from pathlib import Path

from app.ops.jobs import JOBS

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
SYSTEMD = DEPLOY / "systemd"
# systemd directives that sandbox a service (what `systemd-analyze security` scores), as opposed to what it runs.
SANDBOXING = re.compile(
    r"^(NoNewPrivileges|Private\w+|Protect\w+|Restrict\w+|LockPersonality|MemoryDenyWriteExecute|SystemCall\w+|"
    r"CapabilityBoundingSet|AmbientCapabilities|Device\w+|IPAddress\w+|RemoveIPC|UMask|ProcSubset|KeyringMode)$"
)


def nginx_server_blocks() -> list[str]:
    text = re.sub(r"#.*", "", (DEPLOY / "nginx" / "cookcam.conf").read_text())
    blocks = []
    for start in [m.end() for m in re.finditer(r"\bserver\s*\{", text)]:
        depth, end = 1, start
        while depth:
            depth += {"{": 1, "}": -1}.get(text[end], 0)
            end += 1
        blocks.append(text[start:end])
    return blocks


def test_every_nginx_server_hides_its_version() -> None:
    blocks = nginx_server_blocks()
    assert len(blocks) == 2  # the port-80 redirect and the https server
    assert all(re.search(r"^\s*server_tokens\s+off;", block, re.MULTILINE) for block in blocks)


def test_the_image_runs_in_production_unless_told_otherwise() -> None:
    # The settings refuse to start without APP_ENV; the image names the strictest environment, never development.
    instructions = re.sub(r"^\s*#.*\n", "", (DEPLOY / "Dockerfile").read_text(), flags=re.MULTILINE)
    assert re.findall(r"\bAPP_ENV=(\w+)", instructions.split("\nFROM ")[-1]) == ["production"]


def service_section(name: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read(SYSTEMD / name)
    return dict(parser["Service"])


def test_the_job_and_migration_units_are_sandboxed_like_the_api_unit() -> None:
    api = {key: value for key, value in service_section("cookcam-api.service").items() if SANDBOXING.match(key)}
    assert len(api) >= 10
    for unit in ("cookcam-job@.service", "cookcam-migrate.service"):
        sandboxing = {key: value for key, value in service_section(unit).items() if SANDBOXING.match(key)}
        assert sandboxing == api, unit


def test_the_systemd_units_name_every_job_and_a_timer_exists_for_each() -> None:
    timers = {path.name for path in SYSTEMD.glob("cookcam-job@*.timer")}
    assert timers == {f"cookcam-job@{name}.timer" for name in JOBS}
    (listed,) = re.findall(r"known jobs: ([^)]*)\)", comments("cookcam-job@.service"))
    assert sorted(name.strip() for name in listed.split(",")) == sorted(JOBS)
    (enable,) = re.findall(r"systemctl daemon-reload && systemctl enable --now (.*)", comments("cookcam-api.service"))
    assert set(enable.split()) >= {"cookcam-api.service", *timers}


def comments(unit: str) -> str:
    """A unit's comment lines, a shell command continued with a trailing backslash joined into one line."""
    text = (SYSTEMD / unit).read_text()
    lines = [line.removeprefix("#").strip() for line in text.splitlines() if line.startswith("#")]
    return "\n".join(lines).replace("\\\n", "")


def test_restarting_the_api_unit_runs_the_migration_unit_first() -> None:
    # Requires= starts the migration unit with the API; a oneshot that RemainAfterExit stays active and never reruns.
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read(SYSTEMD / "cookcam-api.service")
    assert "cookcam-migrate.service" in parser["Unit"]["Requires"].split()
    assert "cookcam-migrate.service" in parser["Unit"]["After"].split()
    migrate = service_section("cookcam-migrate.service")
    assert migrate["Type"] == "oneshot"
    assert migrate.get("RemainAfterExit", "no") == "no"
