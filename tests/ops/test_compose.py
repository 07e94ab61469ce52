"""docker-compose.yml passes the offline check, and the check catches what it promises to."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "scripts" / "check-compose.py"


def _checker() -> ModuleType:
    spec = importlib.util.spec_from_file_location("check_compose", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _doc() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    return doc


def test_compose_file_passes_the_offline_check() -> None:
    if shutil.which("docker-compose") is None:
        pytest.fail("docker-compose missing: run scripts/install-system-deps.sh")
    done = subprocess.run(
        [sys.executable, str(SCRIPT)], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok (" in done.stdout


def test_compose_scales_workers_and_keeps_one_beat() -> None:
    services = _doc()["services"]
    for name in ("worker-sending", "worker-intake"):
        assert "container_name" not in services[name]
    assert services["beat"]["container_name"]
    assert "noeviction" in services["redis"]["command"]


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda s: s["beat"]["depends_on"].update(rabbit={"condition": "service_healthy"}),
         "unknown service 'rabbit'"),
        (lambda s: s["beat"]["depends_on"]["redis"].update(condition="service_ready"),
         "condition 'service_ready'"),
        (lambda s: s["mailpit"].pop("healthcheck"), "services.mailpit: no healthcheck"),
        (lambda s: s["postgres"]["environment"].update(POSTGRES_PASSWORD="hunter2"),
         "literal secret"),
        (lambda s: s["worker-intake"]["environment"].update(
            OUTREACH_SMTP_URL="smtp://me:pa55@relay:587"), "literal password"),
        (lambda s: s["redis"].update(command=["redis-server"]), "noeviction"),
        (lambda s: s["worker-sending"].update(container_name="w"), "prevents --scale"),
        (lambda s: s["migrate"].update(restart="always"), "waits for completion"),
        (lambda s: s["flower"].pop("environment"), "no authentication"),
    ],
)  # fmt: skip
def test_compose_check_names_each_problem(mutate: Any, expected: str) -> None:
    doc = _doc()
    mutate(doc["services"])
    problems = _checker().structural_problems(doc, "")
    assert any(expected in p for p in problems), problems


def test_compose_check_refuses_a_secret_with_a_default() -> None:
    text = (REPO / "docker-compose.yml").read_text()
    leaky = text.replace(
        "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD in .env}", "${POSTGRES_PASSWORD:-changeme}"
    )
    assert leaky != text
    problems = _checker().structural_problems(yaml.safe_load(leaky), leaky)
    assert any("secret POSTGRES_PASSWORD has a default" in p for p in problems), problems
