"""The rules of a traffic list (CONTRACT §5, Set Traffic): pure checks, no I/O.

The caller says which revisions of the app exist and, for each, whether it may take traffic
(`None`) or why not (its deployment failed or was cancelled). Every problem is reported at
once, each under the field that caused it (`splits[1].percent`), so a client can fix the
whole request in one go; the service raises them as one 422 and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from slipway.domain.errors import FieldError
from slipway.domain.models import TrafficSplit
from slipway.domain.names import label_problem

MAX_SPLITS = 100


def split_problems(
    splits: Sequence[TrafficSplit], *, eligible: Mapping[str, str | None]
) -> list[FieldError]:
    """Everything wrong with `splits`; `eligible` maps each revision name of the app to None
    (may take traffic) or the reason it may not."""
    if not splits:
        return [FieldError("splits", "must list at least one revision")]
    if len(splits) > MAX_SPLITS:
        return [FieldError("splits", f"must list at most {MAX_SPLITS} revisions")]
    errors: list[FieldError] = []
    seen_names: set[str] = set()
    seen_tags: set[str] = set()
    for i, split in enumerate(splits):
        errors += _one_split(f"splits[{i}]", split, eligible, seen_names, seen_tags)
    total = sum(s.percent for s in splits)
    if all(0 <= s.percent <= 100 for s in splits) and total != 100:
        errors.append(FieldError("splits", f"percents must sum to exactly 100, not {total}"))
    return errors


def _one_split(
    where: str,
    split: TrafficSplit,
    eligible: Mapping[str, str | None],
    seen_names: set[str],
    seen_tags: set[str],
) -> list[FieldError]:
    errors: list[FieldError] = []
    name = split.revision_name
    if name not in eligible:
        message = f"{name!r} is not a revision of this app"
        errors.append(FieldError(f"{where}.revisionName", message))
    elif eligible[name] is not None:
        errors.append(FieldError(f"{where}.revisionName", f"{name} {eligible[name]}"))
    if name in seen_names:
        errors.append(FieldError(f"{where}.revisionName", f"{name} is listed twice"))
    seen_names.add(name)
    if not 0 <= split.percent <= 100:
        errors.append(FieldError(f"{where}.percent", "must be an integer from 0 to 100"))
    if split.tag is not None:
        problem = label_problem(split.tag)
        if problem:
            errors.append(FieldError(f"{where}.tag", problem))
        elif split.tag in seen_tags:
            errors.append(FieldError(f"{where}.tag", f"{split.tag!r} is used twice"))
        seen_tags.add(split.tag)
    return errors


def promoted(revision_name: str) -> list[TrafficSplit]:
    """Promote: 100% to one revision; every other split and every tag is removed."""
    return [TrafficSplit(revision_name, 100)]


def with_deployed(
    old: Sequence[TrafficSplit], revision_name: str, *, take_traffic: bool, tag: str | None
) -> list[TrafficSplit]:
    """The traffic list after a deployment of `revision_name` succeeds.

    With `take_traffic`, 100% goes to it and the other tagged revisions keep their tags at
    0%. Without (`noTraffic`), percents stay as they were and the revision joins at 0% under
    `tag`, which moves to it from any revision that had it."""
    if take_traffic:
        kept = [TrafficSplit(s.revision_name, 0, s.tag) for s in old if s.tag]
        kept = [s for s in kept if s.revision_name != revision_name]
        return [TrafficSplit(revision_name, 100), *kept]
    rest = []
    for s in old:
        if s.revision_name == revision_name:
            continue
        s_tag = None if s.tag == tag else s.tag
        if s.percent > 0 or s_tag:
            rest.append(TrafficSplit(s.revision_name, s.percent, s_tag))
    return [*rest, TrafficSplit(revision_name, 0, tag)]
