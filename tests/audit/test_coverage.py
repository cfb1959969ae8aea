"""Structural proof that no service changes state without an audit event.

The test walks every module of the broker (it does not list services by hand), finds each
function that writes to the database — ORM ``session.add``/``delete``/``merge``, attribute
assignments on loaded objects inside a unit of work, SQLAlchemy ``insert``/``update``/``delete``
statements, prepared inserts — and each that records an audit event, follows calls between them
by name, and demands that every public function that writes also records. Private helpers, and
functions that write in a transaction their caller hands them (a ``session`` or ``connection``
argument), are covered by the public functions that call them. The few writes that are not
audit events by design are listed with the reason.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "broker"
# Not services of the broker: the organisations' client, database migrations, and the audit
# log's own machinery (appending *is* the audit event).
SKIPPED = ("client/", "migrations/", "audit/chain.py", "audit/services.py")
# Writes that are deliberately not audit events, each with its reason.
NOT_AUDITED = {
    "audit.checkpoints.sign_checkpoint":
        "a checkpoint is the log's signature over its events, not an event itself",
    "callers.replay.purge_expired":
        "nonces of signatures that can no longer be accepted: bookkeeping, no personal data",
    "pseudonyms.quota.purge_days":
        "quota counts of past days: bookkeeping, no personal data",
    "web.results.keep":
        "the answer of the look-up just audited, kept for the session's redirect to its result "
        "page in the same unit of work: the look-up's event is the disclosure",
    "signin.services.SignInService.current":
        "marks a web session seen, or deletes it once ended: the session's own bookkeeping on "
        "every page; its sign-in and sign-out are the events",
}
SQL_WRITES = {"insert", "update", "delete"}
SESSION_WRITES = {"add", "add_all", "delete", "merge"}
PREPARED_WRITES = {"insert_one", "insert_many"}
# Method names that other libraries' objects have too (a path's open, a key's verify): a call
# of one of these on something other than ``self`` is not followed into the broker's namesake.
COMMON_NAMES = {"open", "verify", "read", "write", "close", "get", "update", "add", "delete",
                "create", "sign", "check", "load"}


@dataclass
class Function:
    """What one function does, directly."""

    qualname: str
    public: bool
    writes: list[str] = field(default_factory=list)
    records: bool = False
    # (the class of a self-call, or empty; the name called): resolved in closure()
    calls: set[tuple[str, str]] = field(default_factory=set)


def _receiver(node: ast.expr) -> str:
    return ast.unparse(node)


class _Walker(ast.NodeVisitor):
    def __init__(self, module: str, sql_names: set[str], mapped: set[str]) -> None:
        self.module = module
        self.sql_names = sql_names
        self.mapped = mapped
        self.functions: list[Function] = []
        self.stack: list[str] = []

    def visit_FunctionDef(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.stack.append(node.name)
        qualname = ".".join([self.module, *self.stack])
        # A function handed the caller's session or connection writes in the caller's
        # transaction: like a private helper, it is covered by callers that record.
        arguments = [a.arg for a in (*node.args.args, *node.args.kwonlyargs)]
        in_callers_transaction = "session" in arguments or "connection" in arguments
        public = not any(part.startswith("_") for part in self.stack) and (
            not in_callers_transaction)
        function = Function(qualname, public)
        for child in ast.walk(node):
            if isinstance(child, ast.Call):
                self._call(child, function)
            elif isinstance(child, (ast.Assign, ast.AugAssign)):
                targets = child.targets if isinstance(child, ast.Assign) else [child.target]
                targets = [e for t in targets for e in (
                    t.elts if isinstance(t, ast.Tuple) else [t])]  # a.x, a.y = …
                for target in targets:
                    if (isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name)
                            and target.value.id not in ("self", "cls", "g")
                            and target.attr in self.mapped):
                        function.writes.append(f"{ast.unparse(target)} = … (ORM change)")
        self.functions.append(function)
        self.generic_visit(node)
        self.stack.pop()

    visit_AsyncFunctionDef = visit_FunctionDef  # noqa: N815 - ast.NodeVisitor's naming

    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        self.stack.append(node.name)
        self.generic_visit(node)
        self.stack.pop()

    def _call(self, call: ast.Call, function: Function) -> None:
        func = call.func
        if isinstance(func, ast.Name):
            if func.id == "record_event":
                function.records = True
            elif func.id in self.sql_names:
                function.writes.append(f"{func.id}(…)")
            else:
                function.calls.add(("", func.id))
        elif isinstance(func, ast.Attribute):
            receiver = _receiver(func.value)
            if func.attr in ("record", "refuse") and receiver.split(".")[-1] in ("uow", "work"):
                function.records = True  # UnitOfWork.record / refuse append the event
            elif ((func.attr in SESSION_WRITES and receiver.split(".")[-1] == "session")
                    or func.attr in PREPARED_WRITES
                    or (func.attr in SQL_WRITES and receiver.endswith("__table__"))):
                function.writes.append(f"{receiver}.{func.attr}(…)")
            elif receiver == "self":
                function.calls.add((".".join(self.stack[:-1]), func.attr))
            elif func.attr not in COMMON_NAMES:
                function.calls.add(("", func.attr))


def mapped_attributes() -> set[str]:
    """The names of every model's mapped columns and relationships (``x: Mapped[...]``)."""
    names = set()
    for path in PACKAGE.rglob("models.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                    and "Mapped[" in ast.unparse(node.annotation)):
                names.add(node.target.id)
    return names


def walk() -> dict[str, Function]:
    """Every function of the broker's services, by qualified name."""
    functions: dict[str, Function] = {}
    mapped = mapped_attributes()
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        if relative.startswith(SKIPPED[:2]) or relative in SKIPPED[2:]:
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        sql_names = {
            alias.asname or alias.name
            for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)
            and node.module == "sqlalchemy" for alias in node.names if alias.name in SQL_WRITES
        }
        module = relative.removesuffix(".py").replace("/", ".")
        walker = _Walker(module, sql_names, mapped)
        walker.visit(tree)
        functions.update((f.qualname, f) for f in walker.functions)
    return functions


def closure(functions: dict[str, Function]) -> tuple[dict[str, list[str]], set[str]]:
    """Writes and recording, followed through calls (by name) to a fixed point."""
    by_name: dict[str, list[Function]] = {}
    for f in functions.values():
        by_name.setdefault(f.qualname.rsplit(".", 1)[-1], []).append(f)

    def resolve(caller: Function, owner: str, name: str) -> list[Function]:
        """A self-call resolves within its class; any other call only when the name is
        unique in the broker (``add`` or ``update`` could be a set's or a dict's)."""
        if owner:
            prefix = caller.qualname[:caller.qualname.index(owner) + len(owner)]
            return [f for f in by_name.get(name, []) if f.qualname == f"{prefix}.{name}"]
        candidates = by_name.get(name, [])
        return candidates if len(candidates) == 1 else []
    writes = {name: list(f.writes) for name, f in functions.items()
              if name not in NOT_AUDITED}
    records = {name for name, f in functions.items() if f.records}
    changed = True
    while changed:
        changed = False
        for name, f in functions.items():
            for callee in (c for owner, called in f.calls for c in resolve(f, owner, called)):
                if callee.qualname in records and name not in records:
                    records.add(name)
                    changed = True
                if (writes.get(callee.qualname) and callee.qualname not in records
                        and name in writes and not writes[name]):
                    writes[name] = [f"via {callee.qualname}"]
                    changed = True
    return writes, records


def test_the_walk_sees_the_services() -> None:
    functions = walk()
    # A walk that found nothing would pass the next test vacuously.
    writers = [name for name, f in functions.items() if f.writes]
    recorders = [name for name, f in functions.items() if f.records]
    assert "registry.involvements.Involvements.register_involvements" in functions
    assert len(writers) >= 15 and len(recorders) >= 15
    assert set(NOT_AUDITED) <= set(functions)


def test_every_function_that_changes_state_records_an_audit_event() -> None:
    functions = walk()
    writes, records = closure(functions)
    unaudited = {
        name: found for name, found in writes.items()
        if found and functions[name].public and name not in records
    }
    assert unaudited == {}, "\n".join(f"{n}: {', '.join(w)}" for n, w in unaudited.items())


def test_the_walk_catches_an_unaudited_write(tmp_path: Path) -> None:
    source = (
        "from sqlalchemy import delete\n"
        "class Service:\n"
        "    def forget(self, connection):\n"
        "        connection.execute(delete(Thing))\n"
        "    def remember(self, session):\n"
        "        session.add(Thing())\n"
        "        record_event(session, actor, 'thing:added')\n"
    )
    walker = _Walker("example", {"delete"}, {"state"})
    walker.visit(ast.parse(source))
    found = {f.qualname: f for f in walker.functions}
    writes, records = closure(found)
    assert writes["example.Service.forget"] and "example.Service.forget" not in records
    assert "example.Service.remember" in records
