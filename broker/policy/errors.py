"""Problems found in policy files, and the one exception that carries them.

Guarantees:
- every problem names a file, a line and a column (1-based), so a privacy officer can jump to it;
- :class:`PolicyLoadError` carries *all* problems found in one run, sorted by file and position,
  never only the first.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from broker.errors import BrokerError


@dataclass(frozen=True, order=True)
class PolicyProblem:
    """One mistake in a policy or policy-test file, at ``path:line:column``."""

    path: str
    line: int
    column: int
    message: str

    def __str__(self) -> str:
        return f"{self.path}:{self.line}:{self.column}: {self.message}"


class PolicyLoadError(BrokerError):
    """The policy could not be loaded; ``problems`` lists every mistake found."""

    code = "policy-invalid"
    status = 500

    def __init__(self, problems: Iterable[PolicyProblem]):
        self.problems: list[PolicyProblem] = sorted(problems)
        listing = "\n".join(str(p) for p in self.problems)
        count = len(self.problems)
        super().__init__("the policy has %(count)s problem(s):\n%(listing)s",
                         count=count, listing=listing)

    def __str__(self) -> str:
        return "\n".join(str(p) for p in self.problems)
