"""Is this the same organisation? Identity beyond one name string: names in both languages and
their variants (legal form, case, punctuation, a bracketed acronym), aliases, mail domains.

Used on import (a second row for one organisation is refused, naming the first) and for
coordinators (recognised by identity, never listed among the signatories).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from worker.core.collation import name_variants
from worker.core.letter import PUBLIC_MAIL_DOMAINS


@dataclass(frozen=True)
class Identity:
    key: str  # org_id in the CSV, or a coordinator's label
    names: tuple[str, ...]  # name_en, name_ja and aliases, as written
    domains: tuple[str, ...] = ()
    where: str = ""  # "row 3", "the database", "coordinators in the definition"

    def variants(self) -> set[str]:
        return {v for n in self.names if n for v in name_variants(n)}

    def own_domains(self) -> set[str]:
        """Its domains that identify it (a shared mailbox provider identifies nobody)."""
        return {d.lower() for d in self.domains if d} - PUBLIC_MAIL_DOMAINS


def same_organisation(a: Identity, b: Identity) -> str | None:
    """Why `a` and `b` are one organisation ("same domain x", "same name y"), or None."""
    shared = sorted(a.own_domains() & b.own_domains())
    if shared:
        return f"same mail domain {shared[0]}"
    names = sorted(a.variants() & b.variants())
    if names:
        name = next(
            (n for n in (*a.names, *b.names) if n and names[0] in name_variants(n)), names[0]
        )
        return f"same name {name!r} (legal form, case, spacing and a bracketed acronym ignored)"
    return None


def first_match(candidate: Identity, others: Iterable[Identity]) -> tuple[Identity, str] | None:
    """The first of `others` with another key that is the same organisation as `candidate`."""
    for other in others:
        if other.key == candidate.key:
            continue
        reason = same_organisation(candidate, other)
        if reason:
            return other, reason
    return None
