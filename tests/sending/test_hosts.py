"""A worker on a shared database refuses setups that would split several hosts."""

from __future__ import annotations

import pytest

from worker.hosts import per_host_problems
from worker.settings import Settings

PG = "postgresql+psycopg://db.example/outreach"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"database_url": PG, "broker_url": "redis://r:6379/0"}, []),
        (
            {"database_url": PG, "broker_url": "", "redis_url": "redis://r/0"},
            ["OUTREACH_BROKER_URL"],
        ),
        ({"database_url": PG, "broker_url": "amqp://mq//", "redis_url": ""}, ["No Redis"]),
        (
            {"database_url": PG, "broker_url": "", "redis_url": ""},
            ["OUTREACH_BROKER_URL", "No Redis"],
        ),
        ({"database_url": "", "broker_url": "", "redis_url": ""}, []),  # SQLite: one host
    ],
)
def test_one_host_setups_are_refused_only_on_a_shared_database(
    values: dict[str, str], expected: list[str], tmp_path: object
) -> None:
    settings = Settings(_env_file=None, data_dir=tmp_path, **values)  # type: ignore[call-arg]
    problems = per_host_problems(settings)
    assert len(problems) == len(expected)
    for problem, needle in zip(problems, expected, strict=True):
        assert needle in problem
