"""What `dfr audit verify` found (`dfr.audit_verify`): the problems that show an audit
log was changed, each with the first entry it concerns, and what else a reader should
know, as text for a person and as JSON."""

from __future__ import annotations

from dataclasses import dataclass, field

from dfr.audit_signing import Checkpoint


@dataclass(frozen=True, slots=True)
class Problem:
    """Something that shows the log was changed. `kind`: edited, deleted, inserted,
    reordered, truncated, rewritten, forged_checkpoint or checkpoint_missing;
    `entry_id`: the first entry concerned."""

    kind: str
    entry_id: int
    message: str


@dataclass(slots=True)
class Report:
    """The verdict on one database: intact when nothing was found."""

    database: str
    entries: int = 0
    head_id: int | None = None
    head_hash: str | None = None
    problems: list[Problem] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    key_ids: list[str] = field(default_factory=list)  # keys checked with; none: not checked
    checkpoints_in_database: int = 0
    checkpoints_in_file: int | None = None  # None: no file read
    checkpoints_valid: int = 0
    latest: Checkpoint | None = None  # the latest checkpoint that holds
    head_signed: bool = False  # the last entry is the one the latest checkpoint signed

    @property
    def intact(self) -> bool:
        return not self.problems

    @property
    def first_bad_entry(self) -> int | None:
        return min((p.entry_id for p in self.problems), default=None)

    def ordered_problems(self) -> list[Problem]:
        """By entry, the first bad entry's first."""
        return sorted(self.problems, key=lambda p: (p.entry_id, p.kind))

    def as_json(self) -> dict[str, object]:
        return {
            "database": self.database,
            "intact": self.intact,
            "first_bad_entry": self.first_bad_entry,
            "entries": self.entries,
            "head": {"id": self.head_id, "hash": self.head_hash, "signed": self.head_signed},
            "problems": [
                {"kind": p.kind, "entry_id": p.entry_id, "message": p.message}
                for p in self.ordered_problems()
            ],
            "checkpoints": {
                "key_ids": self.key_ids,
                "signatures_checked": bool(self.key_ids),
                "in_database": self.checkpoints_in_database,
                "in_file": self.checkpoints_in_file,
                "valid": self.checkpoints_valid,
                "latest": self.latest.as_json() if self.latest else None,
            },
            "notes": self.notes,
        }

    def text(self) -> str:
        lines = [f"dfr audit verify: {self.database}"]
        if self.head_id is None:
            lines.append("  chain: the audit log is empty")
        else:
            lines.append(f"  chain: {self.entries:,} entries, the last is entry {self.head_id:,}")
        for p in self.ordered_problems():
            lines.append(f"  PROBLEM at entry {p.entry_id} ({p.kind}): {p.message}")
        if not self.key_ids:
            lines.append("  checkpoints: signatures NOT checked (no public key given)")
        for key_id in self.key_ids:
            lines.append(f"  checkpoints: checked with the key {key_id}")
        counted = self.checkpoints_in_file
        in_file = "" if counted is None else f", {counted} in the checkpoints file"
        lines.append(
            f"  checkpoints: {self.checkpoints_in_database} in the database{in_file};"
            f" {self.checkpoints_valid} hold"
        )
        if self.latest is not None:
            state = "is" if self.head_signed else "is NOT"
            lines.append(
                f"  head: the last entry {state} the one the latest checkpoint signed"
                f" (entry {self.latest.entry_id:,}, {self.latest.kind}, {self.latest.at})"
            )
        lines += [f"  note: {n}" for n in self.notes]
        if self.intact:
            lines.append("result: INTACT")
        else:
            lines.append(f"result: NOT INTACT: the first bad entry is entry {self.first_bad_entry}")
        return "\n".join(lines)
