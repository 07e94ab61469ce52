"""`outreach evidence verify DIR`: recompute every hash of an evidence folder, the letter
hash and the Ed25519 signature of its manifest, naming each file that does not match."""

from __future__ import annotations

import base64
import hashlib
import json
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from worker.errors import Problem, UserError

MANIFEST = "manifest.json"


class EvidenceInvalid(UserError):
    """The folder does not match its signed manifest."""


def canonical(value: Any) -> bytes:
    """One spelling of a JSON value (sorted keys, UTF-8, no spaces): what is hashed and signed."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


def verify_evidence(folder: Path, *, public_key: str | None = None) -> dict[str, Any]:
    """Recompute every hash, the letter hash and the signature; raise EvidenceInvalid naming
    each file that differs, is missing or was added. Returns the manifest when all holds."""
    path = folder / MANIFEST
    try:
        manifest = json.loads(path.read_bytes())
    except (OSError, ValueError) as exc:
        raise EvidenceInvalid(f"{path}: cannot read the manifest ({exc})") from None
    problems: list[str] = []
    listed: dict[str, str] = manifest.get("files") or {}
    for name, expected in sorted(listed.items()):
        file = folder / name
        if not file.is_file():
            problems.append(f"{name}: missing")
        elif hashlib.sha256(file.read_bytes()).hexdigest() != expected:
            problems.append(f"{name}: SHA-256 differs from the manifest (the file was changed)")
    for file in sorted(folder.rglob("*")):
        name = file.relative_to(folder).as_posix()
        if file.is_file() and name != MANIFEST and name not in listed:
            problems.append(f"{name}: not in the manifest (added after export)")
    text_file = folder / "letter/letter_text.json"
    if text_file.is_file():
        recomputed = hashlib.sha256(canonical(json.loads(text_file.read_bytes()))).hexdigest()
        if recomputed != manifest.get("letter_hash"):
            problems.append("letter/letter_text.json: its hash is not the campaign's letter_hash")
    key_text = public_key or manifest.get("public_key") or ""
    if public_key and public_key != manifest.get("public_key"):
        problems.append(f"{MANIFEST}: signed with another key than the one given")
    unsigned = {k: v for k, v in manifest.items() if k != "signature"}
    try:
        Ed25519PublicKey.from_public_bytes(base64.b64decode(key_text)).verify(
            base64.b64decode(manifest.get("signature") or ""), canonical(unsigned)
        )
    except (InvalidSignature, ValueError):
        problems.append(f"{MANIFEST}: the signature does not verify (the manifest was changed)")
    if problems:
        raise EvidenceInvalid(
            f"{folder}: the evidence does not verify", [_problem(folder, p) for p in problems]
        )
    return dict(manifest)


def _problem(folder: Path, text: str) -> Problem:
    name, _, message = text.partition(": ")
    return Problem(str(folder / name), None, message)
