"""Parallel branches and approvals inside a stage (docs/language.md, "Branches and approvals").

What happened in a stage lives in the record's audit: each `branch_completed` and
`approval_vote` event names the stay (the `sf_stage_history` row) it belongs to, so
the state of a stage is read from the events of the record's current stay. A record
sent back, or leaving and coming back, starts a new stay: its branches and votes
start over. Every command also saves the record (its row version moves on), so two
decisions on one record at once cannot both count.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from engine.bundle import CompiledWorkflow
from engine.spec.workflow import ApprovalSpec, BranchSpec, StageSpec
from runtime import records, rows
from runtime.actions import run_actions
from runtime.clock import iso
from runtime.errors import NotFound, Problem, Refused
from runtime.named import read as named_read
from runtime.people import allowed, manager_of, on_leave, roles_of, users_with_role
from runtime.records import RecordView
from runtime.stages import applies, requirements
from runtime.store import py_time, run_sql
from runtime.unit import Unit

DECISIONS = ("approve", "reject", "send_back")
_STAY = "SELECT id, actor FROM sf_stage_history WHERE record_id = :record_id AND left_at IS NULL"
_CREATOR = "SELECT created_by FROM sf_record WHERE id = :record_id"
_MARKS = (
    "SELECT kind, actor, at, detail FROM sf_event WHERE record_id = :record_id "
    "AND kind IN ('branch_completed', 'approval_vote') ORDER BY id"
)


@dataclass
class StageMarks:
    """What happened in the record's current stay: completed branches and votes."""

    stay: int | None
    entered_by: str | None = None  # who moved the record into the stage (None: the system)
    branches: dict[str, dict[str, Any]] = field(default_factory=dict)
    votes: list[dict[str, Any]] = field(default_factory=list)

    def approvals(self) -> list[dict[str, Any]]:
        """Return the votes that approve."""
        return [v for v in self.votes if v["decision"] == "approve"]


def _json(value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        loaded: dict[str, Any] = json.loads(value)
        return loaded
    return dict(value or {})


def marks(unit: Unit, record_id: str) -> StageMarks:
    """Return the branches completed and the votes cast in the record's current stay."""
    row = run_sql(unit.tx.conn, _STAY, {"record_id": record_id}).fetchone()
    found = StageMarks(row[0] if row else None, row[1] if row else None)
    if found.stay is None:
        return found
    for kind, actor, at, raw in run_sql(unit.tx.conn, _MARKS, {"record_id": record_id}).rows:
        detail = _json(raw)
        if detail.get("stay") != found.stay:
            continue
        when = py_time(at)
        item = {**detail, "actor": actor, "at": iso(when) if when else None}
        if kind == "branch_completed":
            found.branches[str(detail["branch"])] = item
        else:
            found.votes.append(item)
    return found


def current_stage(wf: CompiledWorkflow, record: RecordView) -> StageSpec | None:
    """Return the stage the record is in (None in an exit or outside the workflow)."""
    return next((s for s in wf.body.stages if s.id == record.stage), None)


def live_branches(
    unit: Unit, wf: CompiledWorkflow, record: RecordView, stage: StageSpec
) -> list[BranchSpec]:
    """Return the stage's branches that exist for the record now (their `when` holds)."""
    if stage.branches is None:
        return []
    rule = f"{wf.name}.{stage.id}"
    params = dict(wf.params)
    return [b for b in stage.branches.items if applies(unit, b, record, params, rule)]


def branches_needed(stage: StageSpec, live: list[BranchSpec]) -> int:
    """Return how many of the live branches must complete (`all`, or n capped by them)."""
    assert stage.branches is not None
    need = stage.branches.need
    return len(live) if need == "all" else min(need, len(live))


def holders(unit: Unit, record_id: str, spec: ApprovalSpec) -> dict[str, dict[str, Any]]:
    """Return the named assignments an approval is by: name -> {user, queue} (both None:
    never filled, or cleared)."""
    held = named_read(unit.tx.conn, [record_id]).get(record_id, {})
    return {
        name: {
            "user": (held.get(name) or {}).get("user"),
            "queue": (held.get(name) or {}).get("queue"),
        }
        for name in spec.by.assignment
    }


def approvers(unit: Unit, spec: ApprovalSpec, record_id: str) -> list[str]:
    """Return who may approve: active users holding the role, the listed users, or whoever
    holds the named assignments of the record (one approver per person)."""
    if spec.by.assignment:
        found = (h["user"] for h in holders(unit, record_id, spec).values())
        return list(dict.fromkeys(u for u in found if u))
    if spec.by.role is not None:
        return users_with_role(unit.bundle, spec.by.role)
    return list(dict.fromkeys(spec.by.users))


def authors(unit: Unit, record_id: str) -> dict[str, str]:
    """Return the people who may not decide the record's approval unless it says
    `self_approval: allowed`: who created the record and who moved it into its current
    stage (user -> why; the system acting for nobody is no one)."""
    found: dict[str, str] = {}
    made = run_sql(unit.tx.conn, _CREATOR, {"record_id": record_id}).fetchone()
    if made is not None and made[0]:
        found[made[0]] = "created the record"
    row = run_sql(unit.tx.conn, _STAY, {"record_id": record_id}).fetchone()
    if row is not None and row[1]:
        found.setdefault(row[1], "moved the record into this stage")
    return found


def approvals_needed(unit: Unit, spec: ApprovalSpec, record_id: str) -> int:
    """Return how many approvals the step needs (`all`: every approver who may decide:
    with `self_approval: refused`, the record's authors among them are left out, though
    one approval is always needed)."""
    if spec.need != "all":
        return spec.need
    people = approvers(unit, spec, record_id)
    if spec.self_approval == "refused":
        barred = authors(unit, record_id)
        others = [p for p in people if p not in barred]
        if len(others) < len(people):
            return max(len(others), 1)
    return len(people)


def counted(
    unit: Unit, spec: ApprovalSpec, record_id: str, done: StageMarks
) -> list[dict[str, Any]]:
    """Return the approving votes that count: all of them, or for an approval by named
    assignments those of people who hold one now (a reassigned holder's vote lapses)."""
    if not spec.by.assignment:
        return done.approvals()
    now = set(approvers(unit, spec, record_id))
    return [v for v in done.approvals() if v["approver"] in now]


def unfilled(unit: Unit, spec: ApprovalSpec, record_id: str) -> Problem | None:
    """Return why an approval by named assignments cannot be decided yet: an assignment
    nobody holds (never filled, waiting in a queue, cleared), or fewer holders than `need`
    (one person holding two of them)."""
    if not spec.by.assignment:
        return None
    title = spec.title or "approval"
    held = holders(unit, record_id, spec)
    empty = [n for n, h in held.items() if not h["user"]]
    if empty:
        parts = [
            f"'{n}'" + (f" (waiting in queue {held[n]['queue']})" if held[n]["queue"] else "")
            for n in empty
        ]
        noun = "assignment" if len(empty) == 1 else "assignments"
        verb = "is" if len(empty) == 1 else "are"
        return Problem(
            "approval-unassigned",
            f"{title} cannot be decided: {noun} {', '.join(parts)} {verb} not filled",
            detail={"unfilled": empty},
        )
    people = approvers(unit, spec, record_id)
    if isinstance(spec.need, int) and len(people) < spec.need:
        return Problem(
            "approval-unassigned",
            f"{title} cannot be decided: it needs {spec.need} approvers, and "
            f"{', '.join(spec.by.assignment)} are held by {', '.join(people)}",
            detail={"unfilled": []},
        )
    return None


def gate_problems(
    unit: Unit, wf: CompiledWorkflow, record: RecordView, stage: StageSpec
) -> list[Problem]:
    """Return why a record may not leave `stage` forward yet: open branches, pending approval."""
    if stage.branches is None and stage.approval is None:
        return []
    done = marks(unit, record.id)
    problems: list[Problem] = []
    if stage.branches is not None:
        live = live_branches(unit, wf, record, stage)
        need = branches_needed(stage, live)
        complete = [b.id for b in live if b.id in done.branches]
        if len(complete) < need:
            still = [b.title or b.id for b in live if b.id not in done.branches]
            problems.append(
                Problem(
                    "branches-incomplete",
                    f"{len(complete)} of {need} branches complete; open: {', '.join(still)}",
                    detail={"need": need, "complete": complete, "open": still},
                )
            )
    if stage.approval is not None:
        spec = stage.approval
        need = approvals_needed(unit, spec, record.id)
        have = [v["approver"] for v in counted(unit, spec, record.id, done)]
        blocked = unfilled(unit, spec, record.id)
        if blocked is not None and len(have) < max(need, 1):
            problems.append(blocked)
        elif len(have) < need:
            title = spec.title or "approval"
            problems.append(
                Problem(
                    "approval-pending",
                    f"{title}: {len(have)} of {need} approvals"
                    + (f" (approved by {', '.join(have)})" if have else ""),
                    detail={"need": need, "approved_by": have},
                )
            )
    return problems


def stage_state(
    unit: Unit, wf: CompiledWorkflow, record: RecordView, stage: StageSpec
) -> dict[str, Any]:
    """Return the stage's branches and approval as the guide shows them."""
    out: dict[str, Any] = {}
    if stage.branches is None and stage.approval is None:
        return out
    done = marks(unit, record.id)
    if stage.branches is not None:
        live = {b.id for b in live_branches(unit, wf, record, stage)}
        items = []
        for branch in stage.branches.items:
            item: dict[str, Any] = {"id": branch.id, "title": branch.title or branch.id}
            mark = done.branches.get(branch.id)
            if mark is not None:
                item.update(state="complete", by=mark["actor"], comment=mark.get("comment", ""))
            else:
                item["state"] = "open" if branch.id in live else "not_applicable"
            items.append(item)
        out["branches"] = {
            "need": branches_needed(stage, [b for b in stage.branches.items if b.id in live]),
            "items": items,
        }
    if stage.approval is not None:
        spec = stage.approval
        need = approvals_needed(unit, spec, record.id)
        approved = len(counted(unit, spec, record.id, done))
        blocked = unfilled(unit, spec, record.id)
        state = "approved" if approved >= need else "pending"
        if blocked is not None and approved < max(need, 1):
            state = "unassigned"
        out["approval"] = {
            "title": spec.title or "approval",
            "need": need,
            "approved": approved,
            "state": state,
            "approvers": approvers(unit, spec, record.id),
            "send_back_to": list(spec.send_back_to),
            **({"assignments": holders(unit, record.id, spec)} if spec.by.assignment else {}),
            **({"unassigned": blocked.message} if state == "unassigned" and blocked else {}),
            "votes": [
                {
                    k: v.get(k)
                    for k in ("approver", "decision", "actor", "on_behalf_of", "comment", "at")
                    if v.get(k) not in (None, "")
                }
                for v in done.votes
            ],
        }
    return out


def _refuse(message: str, code: str, **detail: Any) -> Refused:
    return Refused(message, [Problem(code, message, detail=detail)])


def _not_self(unit: Unit, spec: ApprovalSpec, record_id: str, approver: str) -> None:
    """Refuse a decision by whoever created the record or moved it into the stage, or
    one cast for them by their manager (`approval-self`), unless the approval says
    `self_approval: allowed`."""
    barred = authors(unit, record_id) if spec.self_approval == "refused" else {}
    for who in (unit.actor, approver):
        if who in barred:
            raise _refuse(
                f"{who} {barred[who]}: someone else decides the {spec.title or 'approval'}",
                "approval-self",
                why=barred[who],
            )


class Approvals:
    """Commands on a stage's branches and approval (mixed into the Runtime)."""

    def complete_branch(
        self, record_id: str, branch: str, *, actor: str | None = None, comment: str = ""
    ) -> RecordView:
        """Complete a branch of the record's stage; refuse with what it still needs."""
        with self.unit(actor) as unit:  # type: ignore[attr-defined]
            view, wf, stage = self._approval_context(unit, record_id)
            spec = next(
                (b for b in (stage.branches.items if stage.branches else []) if b.id == branch),
                None,
            )
            if spec is None:
                known = ", ".join(b.id for b in stage.branches.items) if stage.branches else ""
                raise _refuse(
                    f"stage '{stage.id}' has no branch '{branch}'"
                    + (f" (its branches: {known})" if known else ""),
                    "unknown-branch",
                )
            if spec.id not in {b.id for b in live_branches(unit, wf, view, stage)}:
                raise _refuse(
                    f"branch '{branch}' does not apply to this record (its when: {spec.when})",
                    "branch-not-applicable",
                )
            done = marks(unit, view.id)
            if branch in done.branches:
                by = done.branches[branch]["actor"]
                raise _refuse(f"branch '{branch}' is already complete (by {by})", "branch-done")
            problems: list[Problem] = []
            if not allowed(unit.bundle, unit.actor, spec.roles):
                roles = ", ".join(spec.roles or [])
                problems.append(
                    Problem("forbidden", f"only {roles} may complete '{branch}'", rule="roles")
                )
            problems += requirements(unit, spec, view, dict(wf.params))
            if problems:
                raise Refused(f"cannot complete branch '{branch}'", problems)
            unit.tx.event(
                "branch_completed",
                view.id,
                view.entity,
                stage=stage.id,
                branch=branch,
                comment=comment,
                stay=done.stay,
            )
            return records.save_record(unit.tx.conn, unit.bundle, view.copy(), unit.now)

    def decide(
        self,
        record_id: str,
        decision: str,
        *,
        actor: str | None = None,
        to: str | None = None,
        comment: str = "",
        on_behalf_of: str | None = None,
    ) -> RecordView:
        """Approve, reject or send back the record's approval (as an approver or delegate)."""
        if decision not in DECISIONS:
            raise _refuse(f"'{decision}' is not a decision ({', '.join(DECISIONS)})", "invalid")
        if to is not None and decision != "send_back":
            raise _refuse(f"'to' goes with send_back, not {decision}", "invalid")
        with self.unit(actor) as unit:  # type: ignore[attr-defined]
            view, wf, stage = self._approval_context(unit, record_id)
            spec = stage.approval
            if spec is None:
                raise _refuse(f"stage '{stage.id}' has no approval", "no-approval")
            done = marks(unit, view.id)
            need = approvals_needed(unit, spec, view.id)
            blocked = unfilled(unit, spec, view.id)
            have = counted(unit, spec, view.id, done)
            if blocked is not None and len(have) < max(need, 1):
                raise Refused(blocked.message, [blocked])
            if len(have) >= need:
                raise _refuse(f"the {spec.title or 'approval'} is already given", "approved")
            voted = {v["approver"] for v in done.votes}
            approver = self._approver(unit, spec, on_behalf_of, voted, view.id)
            _not_self(unit, spec, view.id, approver)
            if any(v["approver"] == approver for v in done.votes):
                raise _refuse(f"{approver} has already decided on this record", "already-voted")
            if decision == "send_back" and to not in spec.send_back_to:
                allowed_to = ", ".join(spec.send_back_to) or "none"
                raise _refuse(
                    f"a send-back goes to one of: {allowed_to}" + (f", not '{to}'" if to else ""),
                    "send-back-not-allowed",
                )
            vote = {
                "stage": stage.id,
                "decision": decision,
                "approver": approver,
                "comment": comment,
                "stay": done.stay,
            }
            if approver != unit.actor:
                vote["on_behalf_of"] = approver
            if decision == "send_back":
                vote["to"] = to
            unit.tx.event("approval_vote", view.id, view.entity, **vote)
            work = view.copy()
            if decision == "reject":
                return self._move(unit, work, spec.on_reject, force=True)  # type: ignore[attr-defined,no-any-return]
            if decision == "send_back":
                return self._move(unit, work, str(to), force=True)  # type: ignore[attr-defined,no-any-return]
            if len(have) + 1 == need:
                approved = [*(v["approver"] for v in have), approver]
                unit.tx.event(
                    "approval_given", view.id, view.entity, stage=stage.id, approvers=approved
                )
                extra = {"params": wf.params}
                run_actions(self, unit, spec.on_approved, work, f"approved in {stage.id}", extra)  # type: ignore[arg-type]
                if work.data != view.data:  # what the actions set is computed and checked
                    self._compute(unit, work)  # type: ignore[attr-defined]
                    self._validate_save(unit, work)  # type: ignore[attr-defined]
            return records.save_record(unit.tx.conn, unit.bundle, work, unit.now)

    def _approver(
        self,
        unit: Unit,
        spec: ApprovalSpec,
        on_behalf_of: str | None,
        voted: set[str],
        record_id: str,
    ) -> str:
        """Return whose vote the actor casts: their own, or an absent approver's (named
        with `on_behalf_of`, or the only absent one of theirs who has not decided yet)."""
        actor = unit.actor
        eligible = approvers(unit, spec, record_id)
        if actor is None:
            raise _refuse("an approval is decided by a person, not the system", "forbidden")
        if on_behalf_of is None and actor in eligible:
            return actor
        absent = [
            u
            for u in eligible
            if u != actor
            and spec.delegate == "manager"
            and on_leave(unit.bundle, u, unit.now)
            and manager_of(unit.bundle, u) == actor
        ]
        if on_behalf_of is not None:
            if on_behalf_of in absent:
                return on_behalf_of
            raise _refuse(
                f"{actor} may not decide for {on_behalf_of}: only the manager of an approver "
                "on leave today may"
                + (" (this approval allows no delegation)" if spec.delegate == "none" else ""),
                "forbidden",
            )
        open_ = [u for u in absent if u not in voted] or absent
        if len(open_) == 1:
            return open_[0]
        if len(open_) > 1:
            raise _refuse(
                f"{actor} may decide for {', '.join(open_)}: say for whom", "ambiguous-delegate"
            )
        if spec.by.assignment:
            names = ", ".join(spec.by.assignment)
            who = f"the holder of {names} ({', '.join(eligible)})"
        else:
            who = f"role {spec.by.role}" if spec.by.role else ", ".join(spec.by.users)
        raise _refuse(f"only {who} may decide on this approval", "forbidden")

    def _approval_context(
        self, unit: Unit, record_id: str
    ) -> tuple[RecordView, CompiledWorkflow, StageSpec]:
        view = records.load(unit.tx.conn, unit.bundle, record_id)
        # A record the actor's row access hides does not exist for them (runtime/rows.py).
        users = rows.reach(unit.bundle, view.entity, unit.actor, roles_of(unit.bundle, unit.actor))
        if not rows.sees(unit.tx.conn, view, users):
            raise NotFound(f"record '{record_id}' does not exist")
        if view.status != "open":
            raise _refuse(f"the record is {view.status}", "closed")
        wf = self._workflow(unit, view)  # type: ignore[attr-defined]
        stage = current_stage(wf, view)
        if stage is None:
            raise _refuse(f"the record is in no stage of {wf.name}", "no-stage")
        return view, wf, stage


__all__ = ["DECISIONS", "Approvals", "gate_problems", "marks", "stage_state"]
