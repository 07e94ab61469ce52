"""The Celery app: broker, queues, routes, task defaults and the beat schedule. Wiring only."""

from __future__ import annotations

import sys
from typing import Any

from celery import Celery
from celery.signals import beat_init, worker_init, worker_process_init
from kombu import Queue

from worker.logs import install_celery_logging
from worker.settings import get_settings
from worker.tasks.publisher import install_celery_publisher
from worker.worker_node import freeze_heap_in_pool_children, stop_gracefully_on_group_sigterm

stop_gracefully_on_group_sigterm()  # also for `celery -A worker.celery_app worker`
freeze_heap_in_pool_children()

QUEUES = ("sending", "intake", "scheduling", "delivery")
# Task names are stable strings ("outbox.send"); the prefix decides the queue, but the fan-out
# tasks that queue and then send their own batch of mail run where mail is sent.
ROUTES = {
    "scan.invite": {"queue": "sending"},
    "scan.remind": {"queue": "sending"},
    "outbox.*": {"queue": "sending"},
    "scan.*": {"queue": "scheduling"},
    "intake.*": {"queue": "intake"},
    "delivery.*": {"queue": "delivery"},
}
# Longer than any task's time limit: an unacknowledged message is redelivered only after this.
# The database, not redelivery, is what recovers lost work (the scan re-drives stalled rows).
VISIBILITY_TIMEOUT_SECONDS = 3600
BROKER_SOCKET_TIMEOUT_SECONDS = 2.0  # beat's lock margin (worker/beat.py) assumes this


def make_app() -> Celery:
    settings = get_settings()
    broker = settings.resolved_broker_url()
    transport_options: dict[str, Any] = {
        "visibility_timeout": VISIBILITY_TIMEOUT_SECONDS,
        # Without them a publish on a link that died silently waits forever (Kombu's docs on
        # socket_timeout): a cut-off host must fail its calls and let the database re-drive.
        "socket_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
        "socket_connect_timeout": BROKER_SOCKET_TIMEOUT_SECONDS,
    }
    if broker.startswith("filesystem"):
        folder = settings.filesystem_broker_dir()
        for sub in ("queue", "processed", "control"):
            (folder / sub).mkdir(parents=True, exist_ok=True)
        transport_options = {
            # One folder both ways: producers and consumers on this machine share it.
            "data_folder_in": str(folder / "queue"),
            "data_folder_out": str(folder / "queue"),
            "processed_folder": str(folder / "processed"),
            "store_processed": False,
            # Broadcasts (worker pings); by default Kombu writes them under the current folder.
            "control_folder": str(folder / "control"),
        }
    app = Celery(
        "outreach",
        broker=broker,
        include=["worker.tasks.sending", "worker.tasks.intake", "worker.tasks.delivery"],
        task_cls="worker.tasks.base:OutreachTask",  # the shared task defaults, written once
    )
    app.conf.update(
        broker_transport_options=transport_options,
        broker_connection_retry_on_startup=True,
        task_queues=[Queue(name) for name in QUEUES],
        task_default_queue="sending",
        task_routes=ROUTES,
        task_serializer="json",
        accept_content=["json"],
        task_ignore_result=True,
        result_backend=None,
        task_acks_late=True,  # our tasks are idempotent: a redelivery finds the work done
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        task_time_limit=300,
        task_soft_time_limit=240,
        worker_send_task_events=True,
        task_send_sent_event=True,
        worker_hijack_root_logger=False,
        timezone="UTC",
        enable_utc=True,
        beat_schedule_filename=str(settings.data_dir / "celerybeat-schedule"),
        # One beat ticks among all hosts (a Redis leader lock with takeover; worker/beat.py).
        beat_scheduler="worker.beat:SingletonScheduler",
        beat_schedule={
            "scan.due": {
                "task": "scan.due",
                "schedule": settings.scan_interval_seconds,
                # A scan that waited longer than two intervals is stale: the next one is coming.
                # One attempt: a retried publish on a dead link would outlive beat's lock.
                "options": {
                    "expires": max(2 * settings.scan_interval_seconds, 5.0),
                    "retry": False,
                },
            },
            "intake.poll": {
                "task": "intake.poll",
                "schedule": settings.imap_poll_seconds,
                "options": {"expires": max(2 * settings.imap_poll_seconds, 5.0), "retry": False},
            },
        },
    )
    return app


app = make_app()
install_celery_logging()
install_celery_publisher()  # actions publish through the port (worker.actions.publisher)


@worker_init.connect
@beat_init.connect
def _refuse_without_key(**_: Any) -> None:
    """A worker or beat on a shared database without OUTREACH_SECRET_KEY stops at start with
    the reason (settings.MissingSecretKey), instead of signing tokens no other host matches."""
    from worker.settings import MissingSecretKey

    try:
        get_settings().secret()
    except MissingSecretKey as exc:
        print(f"error: {exc}", file=sys.stderr)  # logging is not set up yet
        raise SystemExit(2) from None  # celery logs and ignores ordinary errors in signals
    from worker.hosts import per_host_problems  # one-host setups on a shared database

    problems = per_host_problems(get_settings())
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        raise SystemExit(2)


@worker_process_init.connect
def _after_fork(**_: Any) -> None:
    """A forked child must not reuse the parent's database connections or SMTP socket."""
    from worker.db import reset_engines
    from worker.mail.smtp import reset_sender

    reset_engines()
    reset_sender()
    from worker.tasks.sending import reset_process_state

    reset_process_state()
