"""`outreach evidence CAMPAIGN -o DIR` and `outreach evidence verify DIR`: the signed record."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from worker.actions import deliver
from worker.actions.evidence import export_evidence
from worker.actions.evidence_check import verify_evidence
from worker.cli.apps import app
from worker.db import session_scope
from worker.errors import UserError
from worker.settings import get_settings


@app.command("evidence")
def evidence(
    target: Annotated[str, typer.Argument(help="Campaign slug, or the word verify.")],
    folder: Annotated[
        Path | None, typer.Argument(help="With verify: the evidence folder to check.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("-o", "--output", help="New folder to write the evidence into.")
    ] = None,
    public_key: Annotated[
        str | None,
        typer.Option("--public-key", help="With verify: the campaign key it must be signed with."),
    ] = None,
) -> None:
    """Export the evidence of a campaign (every message, state history, letter versions, final
    PDFs, a signed manifest), or verify an exported folder against its manifest."""
    if target == "verify":
        if folder is None:
            raise UserError("give the folder to verify: outreach evidence verify DIR")
        manifest = verify_evidence(folder, public_key=public_key)
        typer.echo(
            f"{folder}: verified {len(manifest['files'])} files, the letter hash and the "
            f"Ed25519 signature (key {manifest['public_key']}); "
            f"{manifest['signatory_count']} signatories, list hash "
            f"{manifest['signatory_list_hash'][:16]}"
        )
        return
    if output is None:
        raise UserError(f"give a folder to write into: outreach evidence {target} -o DIR")
    with session_scope() as session:
        row = deliver.campaign_by_slug(session, target)
        result = export_evidence(
            session, row, output, keys_dir=get_settings().data_dir / "keys", now=datetime.now(UTC)
        )
        session.rollback()
    typer.echo(
        f"wrote {result.files} files for {result.organisations} organisations "
        f"({result.signatures} signature records) into {output}; signed with Ed25519 key "
        f"{result.public_key}. Check it with: outreach evidence verify {output}"
    )


__all__ = ["evidence"]
