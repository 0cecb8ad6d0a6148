"""The relevance evaluation script: its metrics by hand-computed cases, and one small run."""

import json
import math
import subprocess
import sys
from decimal import Decimal
from pathlib import Path

import pytest

from benchmarks import eval_relevance as evaluation

ROOT = Path(__file__).resolve().parent.parent


def test_precision_counts_empty_places_as_misses() -> None:
    grades = {1: 2, 2: 1, 3: 0}
    assert evaluation.precision_at_k([1, 2, 3, 4], grades, 4, 1) == 0.5
    assert evaluation.precision_at_k([1, 2, 3, 4], grades, 4, 2) == 0.25
    assert evaluation.precision_at_k([1], grades, 10, 1) == 0.1
    assert evaluation.precision_at_k([], grades, 10, 1) == 0.0


def test_ndcg_of_the_ideal_order_is_one_and_of_a_worse_order_less() -> None:
    grades = {1: 2, 2: 1, 3: 1}
    assert evaluation.ndcg_at_k([1, 2, 3], grades, 10) == pytest.approx(1.0)
    # Ideal DCG: 3/log2(2) + 1/log2(3) + 1/log2(4); this order: 1 + 3/log2(3) + 1/2.
    ideal = 3 + 1 / math.log2(3) + 0.5
    assert evaluation.ndcg_at_k([2, 1, 3], grades, 10) == pytest.approx(
        (1 + 3 / math.log2(3) + 0.5) / ideal
    )
    assert evaluation.ndcg_at_k([9, 8], grades, 10) == 0.0
    assert evaluation.ndcg_at_k([1], {}, 10) == 0.0


def test_grades_follow_topic_and_subtopic() -> None:
    need = evaluation.NEEDS[0]
    truth = {
        1: evaluation.Truth(need.topic, need.subtopic),
        2: evaluation.Truth(need.topic, "other"),
        3: evaluation.Truth(evaluation.DISTRACTOR, evaluation.DISTRACTOR),
    }
    assert evaluation.grades_for(need, truth) == {1: 2, 2: 1}


def test_budget_aware_grades_are_one_lower_over_the_budget() -> None:
    need = next(n for n in evaluation.NEEDS if n.budget is not None)
    assert need.budget is not None
    over, within = Decimal(need.budget + 1), Decimal(need.budget)
    truth = {
        1: evaluation.Truth(need.topic, need.subtopic, over),
        2: evaluation.Truth(need.topic, need.subtopic, within),
        3: evaluation.Truth(need.topic, "other", over),
        4: evaluation.Truth(need.topic, "other", within),
    }
    assert evaluation.grades_for(need, truth) == {1: 2, 2: 2, 3: 1, 4: 1}
    assert evaluation.grades_for(need, truth, budget_aware=True) == {1: 1, 2: 2, 4: 1}


def test_a_small_run_reports_both_methods(tmp_path: Path) -> None:
    out = tmp_path / "out.json"
    completed = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [sys.executable, "benchmarks/eval_relevance.py", "--listings", "150", "--json", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "blended vs text search on nDCG@10" in completed.stdout
    report = json.loads(out.read_text())
    assert len(report["needs"]) == len(evaluation.NEEDS)
    versus = report["summary"]["blended vs text (ndcg@10)"]
    assert versus["wins"] + versus["ties"] + versus["losses"] == len(evaluation.NEEDS)
    for method in evaluation.METHODS:
        figures = report["summary"]["all"][method]
        assert 0 < figures["ndcg@10"] <= 1
        assert figures["p@10 strict"] <= figures["p@10"]
    budgets = report["summary"][evaluation.BUDGET_AWARE]
    with_budget = sum(1 for need in evaluation.NEEDS if need.budget is not None)
    assert (
        budgets["topic grades"]["needs"] == budgets["budget-aware grades"]["needs"] == with_budget
    )
    assert "needs with a budget" in completed.stdout
