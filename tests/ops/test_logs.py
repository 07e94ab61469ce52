"""Logs: one JSON line per event, carrying the ids bound for the work in hand."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from worker.logs import bind_ids, bound, clear_ids, configure_logging, get_logger


@pytest.fixture
def stream() -> Iterator[io.StringIO]:
    out = io.StringIO()
    configure_logging(json=True, level="INFO", stream=out)
    yield out
    clear_ids()
    root = logging.getLogger()
    for handler in list(root.handlers):
        if handler.get_name() == "outreach":
            root.removeHandler(handler)


def _lines(out: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_each_event_is_one_json_line_with_the_bound_ids(stream: io.StringIO) -> None:
    log = get_logger("test")
    with bound(campaign_id=3, outbox_id=41, contact_id=None):
        log.info("outbox.sent", smtp_code=250, name="日本国際ボランティアセンター")
        logging.getLogger("celery.worker").warning("stdlib %s", "line")
    log.info("after")
    first, second, third = _lines(stream)
    assert first["event"] == "outbox.sent"
    assert (first["campaign_id"], first["outbox_id"]) == (3, 41)
    assert "contact_id" not in first  # None values are not bound
    assert first["name"] == "日本国際ボランティアセンター"  # not \\u-escaped
    assert second["event"] == "stdlib line"
    assert second["outbox_id"] == 41  # library logging carries the ids too
    assert "campaign_id" not in third  # unbound after the block


def test_an_exception_stays_inside_its_line(stream: io.StringIO) -> None:
    bind_ids(campaign_id=1, inbound_id=7)
    try:
        raise ValueError("bad reply\nsecond line")
    except ValueError:
        get_logger("test").exception("intake.failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["inbound_id"] == 7
    assert "ValueError: bad reply" in str(record["exception"])


def test_console_format_when_json_is_off() -> None:
    out = io.StringIO()
    configure_logging(json=False, level="INFO", stream=out)
    try:
        with bound(campaign_id=5):
            get_logger("t").info("scan.due", dispatched=2)
        line = out.getvalue().strip()
        assert "scan.due" in line and "campaign_id=5" in line and "dispatched=2" in line
        assert "\n" not in line
    finally:
        root = logging.getLogger()
        for handler in list(root.handlers):
            if handler.get_name() == "outreach":
                root.removeHandler(handler)


def test_celery_tasks_log_with_their_name_and_id(stream: io.StringIO) -> None:
    from celery import signals

    import worker.tasks.sending  # noqa: F401  (registers the task)
    from worker.celery_app import app
    from worker.logs import install_celery_logging

    install_celery_logging()
    task = app.tasks["outbox.send"]
    signals.task_prerun.send(sender=task, task_id="abc-123", task=task)
    get_logger("t").info("inside")
    signals.task_postrun.send(sender=task, task_id="abc-123", task=task)
    get_logger("t").info("outside")
    inside, outside = _lines(stream)
    assert (inside["task"], inside["task_id"]) == ("outbox.send", "abc-123")
    assert "task" not in outside
