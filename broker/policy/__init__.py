"""Declarative sharing policies: who may learn what about whose involvement, and why.

Privacy officers write YAML files in ``policies/`` (see ``policies/README.md``); this package
loads them with line-numbered errors (:mod:`.loader`), compiles them into a look-up table
(:mod:`.engine`), runs policy tests (:mod:`.testing`) and compares versions (:mod:`.diff`), for the
``broker policy`` commands (:mod:`broker.cli.policy`) and the broker. Default deny; a forbid beats
an allow; every decision names its rule and the policy version.
"""

from broker.policy.bases import BasisProblem
from broker.policy.engine import Decision, Policy
from broker.policy.errors import PolicyLoadError, PolicyProblem
from broker.policy.holder import PolicyHolder, ReloadResult
from broker.policy.loader import load_policy
from broker.policy.scopes import DecisionRequest

__all__ = [
    "BasisProblem",
    "Decision",
    "DecisionRequest",
    "Policy",
    "PolicyHolder",
    "PolicyLoadError",
    "PolicyProblem",
    "ReloadResult",
    "load_policy",
]
