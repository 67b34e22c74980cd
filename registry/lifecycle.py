"""Lifecycle rules: provisional → active ⇄ suspended → retired, and void for codes minted in
error. Retired and void are final."""

from __future__ import annotations

from registry.errors import IllegalTransition, InvalidInput
from registry.models import STATUSES

INITIAL = ("provisional", "active")
TRANSITIONS: dict[str, frozenset[str]] = {
    "provisional": frozenset({"active", "void"}),
    "active": frozenset({"suspended", "retired", "void"}),
    "suspended": frozenset({"active", "retired", "void"}),
    "retired": frozenset(),
    "void": frozenset(),
}
FINAL = frozenset(s for s, nxt in TRANSITIONS.items() if not nxt)


def check_status(status: str) -> str:
    if status not in STATUSES:
        raise InvalidInput(f"status {status!r} is not one of {', '.join(STATUSES)}")
    return status


def check_initial(status: str) -> str:
    if check_status(status) not in INITIAL:
        raise IllegalTransition(f"a new entity starts as {' or '.join(INITIAL)}, not {status}")
    return status


def check_transition(code: str, current: str, target: str) -> None:
    check_status(target)
    if target not in TRANSITIONS[current]:
        allowed = ", ".join(sorted(TRANSITIONS[current])) or "nothing (it is final)"
        raise IllegalTransition(
            f"{code} is {current}: it cannot become {target}; from {current} it can become "
            f"{allowed}",
            current=current, target=target,
        )
