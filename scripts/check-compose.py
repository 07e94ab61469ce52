#!/usr/bin/env python3
"""Validate docker-compose.yml offline (no Docker engine): schema, wiring, health checks, secrets.

1. Debian's `docker-compose config -q` (installed by scripts/install-system-deps.sh) validates
   the file against the Compose JSON schema and resolves every ${VAR}; it runs twice: with dummy
   values for the required variables (must pass) and without them (must refuse: a secret with a
   default would be a secret in the file).
2. Our own rules on the parsed YAML: every `depends_on` names an existing service with a valid
   condition (service_healthy only on services that have a health check,
   service_completed_successfully only on one-shot services); every long-running service has a
   health check; Redis keeps its data (appendonly) and never evicts (noeviction); exactly one
   beat; workers scalable (no container_name, no fixed host port); Flower behind basic auth; no
   literal password, key or token anywhere.

Usage: scripts/check-compose.py [FILE] [--structural-only]
Exit status 0 when the file passes, 1 with one line per problem otherwise.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
VALID_CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}
REQUIRED_SERVICES = {
    "redis",
    "postgres",
    "migrate",
    "worker-sending",
    "worker-intake",
    "beat",
    "flower",
    "mailpit",
    "lmtp",
    "web",
}
SECRET_KEY_PATTERN = re.compile(r"PASSWORD|SECRET|TOKEN|API_?KEY|BASIC_AUTH|CREDENTIAL", re.I)
INTERPOLATION = re.compile(r"\$\{[A-Za-z_][A-Za-z0-9_]*(?::?[-?][^}]*)?\}|\$[A-Za-z_][A-Za-z0-9_]*")
REQUIRED_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?\?")
SECRET_WITH_DEFAULT = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):?-[^}]+\}")
URL_WITH_PASSWORD = re.compile(r"[a-z][a-z0-9+.-]*://[^/\s:@]+:([^@\s]+)@", re.I)


def _environment(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):
        pairs = (item.split("=", 1) for item in env)
        return {p[0]: (p[1] if len(p) > 1 else "") for p in pairs}
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _depends_on(service: dict[str, Any]) -> dict[str, str]:
    deps = service.get("depends_on") or {}
    if isinstance(deps, list):
        return dict.fromkeys(deps, "service_started")
    return {name: (spec or {}).get("condition", "service_started") for name, spec in deps.items()}


def _is_literal(value: str) -> bool:
    """True when a value holds text of its own rather than only ${VAR} interpolations."""
    return bool(INTERPOLATION.sub("", value).strip())


def _test_command(service: dict[str, Any]) -> list[str] | str | None:
    health = service.get("healthcheck")
    if not health or health.get("disable"):
        return None
    test: list[str] | str | None = health.get("test")
    return test


def structural_problems(doc: dict[str, Any], text: str) -> list[str]:
    problems: list[str] = []
    services: dict[str, dict[str, Any]] = doc.get("services") or {}
    if not services:
        return ["no services defined"]
    missing = REQUIRED_SERVICES - set(services)
    if missing:
        problems.append(f"missing services: {', '.join(sorted(missing))}")

    one_shot = {n for n, s in services.items() if str(s.get("restart", "no")) == "no"}
    for name, service in services.items():
        where = f"services.{name}"
        if "image" not in service and "build" not in service:
            problems.append(f"{where}: neither image nor build")
        # 1. Wiring: every dependency exists, with a condition that can be met.
        for dep, condition in _depends_on(service).items():
            if dep not in services:
                problems.append(f"{where}.depends_on: unknown service {dep!r}")
                continue
            if condition not in VALID_CONDITIONS:
                problems.append(
                    f"{where}.depends_on.{dep}: condition {condition!r} is not one of "
                    f"{', '.join(sorted(VALID_CONDITIONS))}"
                )
            if condition == "service_healthy" and _test_command(services[dep]) is None:
                problems.append(
                    f"{where}.depends_on.{dep}: service_healthy, but {dep} has no health check"
                )
            if condition == "service_completed_successfully" and dep not in one_shot:
                problems.append(
                    f"{where}.depends_on.{dep}: waits for completion, but {dep} restarts "
                    '(set restart: "no")'
                )
            if dep == name:
                problems.append(f"{where}.depends_on: depends on itself")
        # 2. Every service has a health check.
        test = _test_command(service)
        if test is None:
            problems.append(f"{where}: no healthcheck")
        elif isinstance(test, list) and (not test or test[0] not in ("CMD", "CMD-SHELL")):
            problems.append(f"{where}.healthcheck.test: must start with CMD or CMD-SHELL")
        # 3. No literal secret in any environment value.
        for key, value in _environment(service).items():
            if SECRET_KEY_PATTERN.search(key) and value and _is_literal(value):
                problems.append(f"{where}.environment.{key}: literal secret; use ${{{key}:?...}}")
            for match in URL_WITH_PASSWORD.finditer(value):
                if _is_literal(match.group(1)):
                    problems.append(f"{where}.environment.{key}: URL with a literal password")
    # ... nor anywhere else in the file (commands, x- blocks), comments excluded.
    for lineno, line in enumerate(text.splitlines(), 1):
        code = line.split(" #", 1)[0] if not line.lstrip().startswith("#") else ""
        for match in SECRET_WITH_DEFAULT.finditer(code):
            if SECRET_KEY_PATTERN.search(match.group(1)):
                problems.append(f"line {lineno}: secret {match.group(1)} has a default value")
        for match in URL_WITH_PASSWORD.finditer(code):
            if _is_literal(match.group(1)):
                problems.append(f"line {lineno}: URL with a literal password")

    # 4. The service-specific rules of the deployment.
    app_services = [
        n for n in ("worker-sending", "worker-intake", "beat", "lmtp", "web") if n in services
    ]
    for name in app_services:
        deps = _depends_on(services[name])
        if deps.get("migrate") != "service_completed_successfully":
            problems.append(
                f"services.{name}: must wait for migrate (service_completed_successfully)"
            )
        for base in ("postgres", "redis"):
            if deps.get(base) != "service_healthy":
                problems.append(f"services.{name}: must wait for {base} to be healthy")
    redis = services.get("redis", {})
    command = redis.get("command", "")
    command_text = " ".join(command) if isinstance(command, list) else str(command)
    if not re.search(r"--appendonly\s+\"?yes", command_text):
        problems.append("services.redis: append-only persistence off (--appendonly yes)")
    if not re.search(r"--maxmemory-policy\s+noeviction", command_text):
        problems.append("services.redis: --maxmemory-policy noeviction missing")
    for name in ("worker-sending", "worker-intake"):
        service = services.get(name, {})
        if "container_name" in service:
            problems.append(f"services.{name}: container_name prevents --scale")
        for port in service.get("ports") or []:
            if ":" in str(port):
                problems.append(f"services.{name}: fixed host port {port} prevents --scale")
    beat = services.get("beat", {})
    replicas = (beat.get("deploy") or {}).get("replicas")
    if "container_name" not in beat and replicas != 1:
        problems.append("services.beat: nothing keeps it to one instance (container_name)")
    beats = [n for n, s in services.items() if "beat" in " ".join(map(str, s.get("command") or []))]
    if beats != ["beat"] and "beat" in services:
        problems.append(f"exactly one service may run celery beat, found: {', '.join(beats)}")
    flower_env = _environment(services.get("flower", {}))
    if not any(k in flower_env for k in ("FLOWER_BASIC_AUTH", "FLOWER_AUTH")) and not any(
        "--basic-auth" in str(c) or "--auth" in str(c)
        for c in services.get("flower", {}).get("command") or []
    ):
        problems.append("services.flower: no authentication (FLOWER_BASIC_AUTH)")
    return problems


def compose_cli_problems(path: Path, text: str) -> list[str]:
    """Run Debian's docker-compose (v1, pure Python: validates with the Compose JSON schema)."""
    binary = shutil.which("docker-compose")
    if binary is None:
        return [
            "docker-compose not found: run scripts/install-system-deps.sh "
            "(or pass --structural-only)"
        ]
    required = sorted(set(REQUIRED_VAR.findall(text)))
    base_env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": "/nonexistent"}
    dummy = {var: f"dummy-{var.lower()}" for var in required}
    problems: list[str] = []
    # A developer's .env beside the file must not change the verdict: read an empty one.
    empty_env = tempfile.NamedTemporaryFile("w", suffix=".env", delete=False)  # noqa: SIM115
    empty_env.close()
    cmd = [binary, "--env-file", empty_env.name, "--project-directory", str(path.parent)]
    cmd += ["-f", str(path), "config", "-q"]
    env = {**base_env, **dummy, "COMPOSE_PROJECT_NAME": "outreach-check"}
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        problems.append(f"docker-compose config: {(done.stderr or done.stdout).strip()}")
    if required:
        env = {**base_env, "COMPOSE_PROJECT_NAME": "outreach-check"}
        refused = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
        if refused.returncode == 0:
            problems.append(
                "docker-compose config accepted the file without the required variables "
                f"({', '.join(required)}): a secret has a default"
            )
    os.unlink(empty_env.name)
    return problems


def main(argv: list[str]) -> int:
    args = [a for a in argv if not a.startswith("--")]
    structural_only = "--structural-only" in argv
    path = Path(args[0]) if args else ROOT / "docker-compose.yml"
    text = path.read_text(encoding="utf-8")
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        print(f"{path}: not valid YAML: {exc}")
        return 1
    if not isinstance(doc, dict):
        print(f"{path}: the top level must be a mapping")
        return 1
    problems = structural_problems(doc, text)
    if not structural_only:
        problems += compose_cli_problems(path, text)
    for problem in problems:
        print(f"{path.name}: {problem}")
    if problems:
        return 1
    services = doc["services"]
    how = "structure" if structural_only else "docker-compose schema + structure"
    print(f"{path.name}: ok ({len(services)} services, {how})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
