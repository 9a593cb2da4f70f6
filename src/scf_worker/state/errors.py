"""Errors of the state capability."""


class StateError(Exception):
    """The state store failed or is unreachable; callers treat this as transient."""


class UnsupportedStateUrl(StateError):
    """``STATE_URL`` names a scheme this build does not support."""


class SchemaMismatch(StateError):
    """Tables, columns or indexes are missing; ``scf-worker db migrate`` creates them."""

    def __init__(self, dialect: str, problems: list[str]) -> None:
        self.problems = problems
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        super().__init__(f"the {dialect} schema is out of date ({shown}); run `scf-worker db migrate`")
