"""The position-keeping YAML reader."""

from __future__ import annotations

from broker.policy.yamlpos import Position, parse_located


def test_positions_of_values_and_keys_are_one_based() -> None:
    doc, problems = parse_located("a: 1\nb:\n  - x\n  - {y: 2}\n", "f.yaml")
    assert problems == []
    assert doc is not None
    assert doc.data == {"a": 1, "b": ["x", {"y": 2}]}
    assert doc.keys[("a",)] == Position(1, 1)
    assert doc.values[("a",)] == Position(1, 4)
    assert doc.values[("b", 0)] == Position(3, 5)
    assert doc.values[("b", 1, "y")] == Position(4, 9)


def test_duplicate_key_is_reported_at_the_second_occurrence() -> None:
    doc, problems = parse_located("a: 1\nb: 2\na: 3\n", "f.yaml")
    assert doc is not None and doc.data == {"a": 1, "b": 2}
    assert [str(p) for p in problems] == [
        'f.yaml:3:1: duplicate key "a" (first written at line 1, column 1)'
    ]


def test_keys_stay_text_as_written() -> None:
    doc, _ = parse_located("no: yes\n1: x\n", "f.yaml")
    assert doc is not None and doc.data == {"no": True, "1": "x"}


def test_aliases_and_merge_keys_are_refused() -> None:
    _, problems = parse_located("a: &x [1]\nb: *x\nc:\n  <<: {d: 1}\n", "f.yaml")
    assert [(p.line, p.column) for p in problems] == [(2, 1), (4, 3)]
    assert "aliases" in problems[0].message
    assert "merge keys" in problems[1].message


def test_syntax_error_is_a_located_problem() -> None:
    doc, problems = parse_located("a: [1\nb: 2\n", "f.yaml")
    assert doc is None
    assert len(problems) == 1
    assert problems[0].line == 2
    assert problems[0].message.startswith("YAML syntax error")


def test_empty_file_and_second_document_are_problems() -> None:
    assert parse_located("# nothing\n", "f.yaml")[1][0].message == "the file is empty"
    _, problems = parse_located("a: 1\n---\nb: 2\n", "f.yaml")
    assert problems[0].line == 2
    assert "single document" in problems[0].message


def test_missing_path_falls_back_to_nearest_ancestor() -> None:
    doc, _ = parse_located("rules:\n  - id: x\n", "f.yaml")
    assert doc is not None
    assert doc.value_position(("rules", 0, "effect")) == Position(2, 5)
    assert doc.key_position(("rules", 0)) == Position(2, 5)
