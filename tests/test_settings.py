"""Settings parse the URLs operators write and refuse the ones that cannot work."""

from __future__ import annotations

from pathlib import Path

import pytest

from worker.settings import Settings


def test_smtp_url_with_credentials_and_starttls() -> None:
    target = Settings(smtp_url="smtp://u%40x:p%2Fw@relay.example:587?starttls=true").smtp_target()
    assert (target.host, target.port, target.username, target.password) == (
        "relay.example",
        587,
        "u@x",
        "p/w",
    )
    assert target.starttls and not target.implicit_tls


def test_smtps_means_implicit_tls_on_465() -> None:
    target = Settings(smtp_url="smtps://relay.example").smtp_target()
    assert target.implicit_tls and target.port == 465


def test_embedded_default_captures_mail_under_data_dir(tmp_path: Path) -> None:
    target = Settings(data_dir=tmp_path, smtp_url="").smtp_target()
    assert target.scheme == "file" and target.path == tmp_path / "mail-capture"


def test_unknown_smtp_scheme_is_named() -> None:
    with pytest.raises(ValueError, match="OUTREACH_SMTP_URL: unknown scheme 'http'"):
        Settings(smtp_url="http://x").smtp_target()


def test_imap_url_gives_folder_and_tls() -> None:
    target = Settings(imap_url="imaps://me:pw@mail.example/Replies").imap_target()
    assert target is not None
    assert (target.port, target.ssl, target.folder) == (993, True, "Replies")


def test_secret_is_generated_once_and_kept(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path, secret_key="")
    first = settings.secret()
    assert first == Settings(data_dir=tmp_path, secret_key="").secret()
    assert len(first) >= 32


def test_embedded_database_is_sqlite_under_data_dir(tmp_path: Path) -> None:
    assert Settings(data_dir=tmp_path).resolved_database_url() == (
        f"sqlite:///{tmp_path / 'outreach.sqlite3'}"
    )
