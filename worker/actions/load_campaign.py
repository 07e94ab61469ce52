"""Load a campaign definition file (YAML + Markdown letters) and upsert it idempotently."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.actions import audit
from worker.core.audit_actions import AuditAction
from worker.core.definition import CampaignDefinition
from worker.core.definition_edits import changed_paths, refusals
from worker.core.states import CampaignState
from worker.errors import Problem, UserError
from worker.models import Campaign

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class LoadedDefinition:
    """A validated definition file with its letters read, ready to store."""

    definition: CampaignDefinition
    stored: dict[str, Any]  # what goes into Campaign.definition (includes "letter_text")
    definition_hash: str
    letter_hash: str
    path: Path
    key_lines: dict[Loc, int] = field(repr=False)

    def where(self, loc: Loc) -> str:
        return _where(self.path, self.key_lines, loc)


@dataclass(frozen=True)
class LoadResult:
    slug: str
    campaign_id: int
    outcome: Literal["created", "updated", "unchanged"]
    changed: list[str]


def canonical_json(value: Any) -> str:
    """One spelling of a JSON value, so equal content always hashes equal."""
    return json.dumps(value, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def sha256_json(value: Any) -> str:
    return hashlib.sha256(canonical_json(value).encode("utf-8")).hexdigest()


def read_definition(path: Path) -> LoadedDefinition:
    """Parse, validate and complete a definition file; raise UserError listing every problem."""
    name = str(path)
    try:
        text = path.read_bytes().decode("utf-8-sig")
    except FileNotFoundError:
        raise UserError(f"{name}: no such file; give the path of a campaign .yaml file") from None
    except UnicodeDecodeError as exc:
        raise UserError(
            f"{name}: not UTF-8 (byte {exc.start}); save the file as UTF-8 and load it again"
        ) from None

    # 1. YAML syntax, with the position of the first error.
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = f"{name}:{mark.line + 1}:{mark.column + 1}" if mark else name
        what = " ".join(p for p in (exc.context, exc.problem) if p)
        started = exc.context_mark
        if started is not None and mark is not None and started.line != mark.line:
            what += f" (it began on line {started.line + 1})"
        raise UserError(
            f"{pos}: malformed YAML: {what}; fix the file (check indentation and quotes)"
        ) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{name}: malformed YAML: {exc}") from None
    if not isinstance(data, dict):
        raise UserError(
            f"{name}: expected a mapping of fields (slug:, title:, ...) at the top, "
            f"found {type(data).__name__}"
        )
    key_lines, problems = _key_lines(path, node)

    # 2. The schema (unknown keys are errors: extra=forbid).
    definition: CampaignDefinition | None = None
    try:
        definition = CampaignDefinition.model_validate(data)
    except ValidationError as exc:
        for error in exc.errors():
            loc: Loc = tuple(part for part in error["loc"] if isinstance(part, str | int))
            message = str(error["msg"]).removeprefix("Value error, ")
            if error["type"] == "extra_forbidden":
                message = "unknown field; remove it or check its spelling"
            problems.append(Problem(_where(path, key_lines, loc), _dotted(loc) or None, message))
    # No stop here: the letter files are checked too, so every problem is reported at once.

    # 3. The letter texts beside the file (named by the raw file when the schema failed).
    letter_text: dict[str, str] = {}
    letters = definition.letter if definition is not None else _letter_names(data)
    for lang, filename in sorted(letters.items()):
        letter_path = path.parent / filename
        where = _where(path, key_lines, ("letter", lang))
        try:
            raw = letter_path.read_bytes()
        except (FileNotFoundError, IsADirectoryError):
            problems.append(
                Problem(
                    where,
                    f"letter.{lang}",
                    f"letter file {letter_path} not found; "
                    "write it beside the definition file or correct the name",
                )
            )
            continue
        try:
            content = raw.decode("utf-8-sig").replace("\r\n", "\n").replace("\r", "\n")
        except UnicodeDecodeError:
            problems.append(
                Problem(where, f"letter.{lang}", f"{letter_path} is not UTF-8; save it as UTF-8")
            )
            continue
        if not content.strip():
            problems.append(Problem(where, f"letter.{lang}", f"{letter_path} is empty"))
            continue
        letter_text[lang] = content
    if problems or definition is None:
        raise UserError(f"{name}: the campaign definition has {len(problems)} problem(s)", problems)

    stored = definition.model_dump(mode="json")
    stored["letter_text"] = letter_text
    return LoadedDefinition(
        definition=definition,
        stored=stored,
        definition_hash=sha256_json(stored),
        letter_hash=sha256_json(letter_text),
        path=path,
        key_lines=key_lines,
    )


def _letter_names(data: dict[str, Any]) -> dict[str, str]:
    """`letter:` of a definition that failed validation, as far as it can be read."""
    raw = data.get("letter")
    if not isinstance(raw, dict):
        return {}
    return {str(lang): name for lang, name in raw.items() if isinstance(name, str) and name}


def load_campaign(session: Session, path: Path, *, actor: str = "cli") -> LoadResult:
    """Create or update the campaign a definition file describes, in the caller's transaction.

    Loading an unchanged file changes nothing (no write, no audit row). An edit is applied only
    when every changed part may still change in the campaign's state; otherwise UserError lists
    each refused part and nothing is written.
    """
    loaded = read_definition(path)
    d = loaded.definition
    campaign = session.scalars(select(Campaign).where(Campaign.slug == d.slug)).one_or_none()

    # 1. A new campaign starts as a draft.
    if campaign is None:
        campaign = Campaign(slug=d.slug, state=CampaignState.DRAFT.value)
        _apply(campaign, loaded)
        session.add(campaign)
        session.flush()
        audit.event(
            session, campaign, actor=actor, action=AuditAction.CAMPAIGN_CREATED,
            campaign_id=campaign.id,
            to_state=campaign.state,
            detail={"definition_hash": loaded.definition_hash, "source": str(path)},
        )  # fmt: skip
        return LoadResult(d.slug, campaign.id, "created", [])

    # 2. Same content: nothing to do.
    if campaign.definition_hash == loaded.definition_hash:
        return LoadResult(d.slug, campaign.id, "unchanged", [])

    # 3. An edit: every changed part must still be editable in this state.
    paths = changed_paths(campaign.definition, loaded.stored)
    state = CampaignState(campaign.state)
    refused = refusals(state, paths, d.slug)
    if refused:
        problems = [Problem(loaded.where(_loc_of(r.path)), r.path, r.message) for r in refused]
        raise UserError(
            f"{path}: campaign {d.slug} is {state.value}; {len(refused)} change(s) refused, "
            "nothing was changed",
            problems,
        )
    old_hash = campaign.definition_hash
    _apply(campaign, loaded)
    session.flush()
    audit.event(
        session,
        campaign,
        actor=actor,
        action=AuditAction.CAMPAIGN_UPDATED,
        campaign_id=campaign.id,
        from_state=campaign.state,
        to_state=campaign.state,
        detail={
            "changed": paths,
            "old_definition_hash": old_hash,
            "definition_hash": loaded.definition_hash,
            "source": str(path),
        },
    )
    return LoadResult(d.slug, campaign.id, "updated", paths)


def _apply(campaign: Campaign, loaded: LoadedDefinition) -> None:
    d = loaded.definition
    campaign.title = d.title.get(d.languages[0]) or next(iter(d.title.values()))
    campaign.timezone = d.timezone
    campaign.languages = list(d.languages)
    campaign.invite_at = d.schedule.invite_at.astimezone(UTC)
    campaign.deadline = d.schedule.deadline.astimezone(UTC)
    campaign.requires_approval = d.requires_approval
    campaign.definition = loaded.stored
    campaign.definition_hash = loaded.definition_hash
    campaign.letter_hash = loaded.letter_hash
    campaign.source_path = str(loaded.path)


def _loc_of(dotted: str) -> Loc:
    return ("letter",) if dotted == "letter_text" else tuple(dotted.split("."))


def _dotted(loc: Loc) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _where(path: Path, key_lines: dict[Loc, int], loc: Loc) -> str:
    """`file:line` of the deepest key of `loc` found in the YAML (the file alone if none)."""
    for end in range(len(loc), 0, -1):
        line = key_lines.get(loc[:end])
        if line is not None:
            return f"{path}:{line}"
    return str(path)


def _key_lines(path: Path, node: yaml.Node | None) -> tuple[dict[Loc, int], list[Problem]]:
    """Line number of every key and list item in the YAML, and any duplicated keys."""
    lines: dict[Loc, int] = {}
    problems: list[Problem] = []

    def walk(n: yaml.Node, prefix: Loc) -> None:
        if isinstance(n, yaml.MappingNode):
            seen: set[str] = set()
            for key_node, value_node in n.value:
                key = str(key_node.value)
                loc = (*prefix, key)
                if key in seen:
                    problems.append(
                        Problem(
                            f"{path}:{key_node.start_mark.line + 1}",
                            _dotted(loc),
                            "this key appears twice; keep only one",
                        )
                    )
                seen.add(key)
                lines.setdefault(loc, key_node.start_mark.line + 1)
                walk(value_node, loc)
        elif isinstance(n, yaml.SequenceNode):
            for index, item in enumerate(n.value):
                lines[(*prefix, index)] = item.start_mark.line + 1
                walk(item, (*prefix, index))

    if node is not None:
        walk(node, ())
    return lines, problems
