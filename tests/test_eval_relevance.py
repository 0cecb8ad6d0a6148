"""The relevance evaluation script: its metrics by hand-computed cases, its baseline, and one
small run over a fixture corpus written here (never the development data itself)."""

import json
import math
import random
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import eval_relevance as evaluation

ROOT = Path(__file__).resolve().parent.parent


def test_precision_counts_empty_places_as_misses() -> None:
    relevant = {1, 2}
    assert evaluation.precision_at_k([1, 2, 3, 4], relevant, 4) == 0.5
    assert evaluation.precision_at_k([1], relevant, 10) == 0.1
    assert evaluation.precision_at_k([], relevant, 10) == 0.0


def test_ndcg_of_the_ideal_order_is_one_and_of_a_worse_order_less() -> None:
    relevant = {1, 2}
    assert evaluation.ndcg_at_k([1, 2, 3], relevant) == pytest.approx(1.0)
    ideal = 1 + 1 / math.log2(3)
    assert evaluation.ndcg_at_k([3, 1, 2], relevant) == pytest.approx(
        (1 / math.log2(3) + 1 / math.log2(4)) / ideal
    )
    assert evaluation.ndcg_at_k([9, 8], relevant) == 0.0
    assert evaluation.ndcg_at_k([1], set()) == 0.0


def test_the_baseline_ranks_rarer_and_more_words_first() -> None:
    baseline = evaluation.Bm25()
    baseline.add(1, "lithium battery cooling plate")
    baseline.add(2, "battery charging method")
    baseline.add(3, "battery housing")
    baseline.add(4, "seed drill")
    assert baseline.rank("battery cooling", 10)[0] == 1
    assert 4 not in baseline.rank("battery cooling", 10)


def test_a_record_without_title_is_titled_by_its_first_sentence() -> None:
    raw = {"lang": "en", "title": "", "abstract": "A heat pipe. It recovers heat.", "ipc": []}
    record = evaluation.read_record(raw, random.Random(1))
    assert record is not None
    assert record.title == "A heat pipe."
    chinese = {"title": "", "abstract": "一种余热锅炉。其包括烟道。", "ipc": ["F22B 1/18"]}
    record = evaluation.read_record(chinese, random.Random(1))
    assert record is not None
    assert record.title == "一种余热锅炉。"
    assert record.subclasses == {"F22B"}


def test_a_bare_subclass_is_imported_as_a_full_symbol() -> None:
    record = evaluation.read_record({"title": "播种机", "ipc": ["A01C"]}, random.Random(1))
    assert record is not None
    assert record.ipc_codes == ["A01C 1/00"]
    assert record.subclasses == {"A01C"}


FIXTURE = {
    "cn_a01_agri_patents.jsonl": [
        ("zh", "一种水稻播种机", "本发明涉及水稻播种机、包括排种器和开沟器。", "A01C"),
        ("zh", "精量播种装置", "一种精量播种装置、包括种箱、排种轮和镇压轮。", "A01C"),
        ("zh", "玉米播种施肥机", "播种施肥一体机、排种器与施肥器联动。", "A01C"),
        ("zh", "鱼塘增氧装置", "一种鱼塘增氧装置、包括叶轮和电机。", "A01K"),
        ("zh", "水产养殖投饵机", "投饵机用于鱼塘养殖、定时投放饲料。", "A01K"),
        ("zh", "蜜蜂养殖箱", "一种蜂箱、便于取蜜。", "A01K"),
    ],
    "en_heat_recovery_abstracts.jsonl": [
        ("en", "", "A waste heat boiler recovers heat from flue gas. It has tubes.", "F22B 1/18"),
        ("en", "", "A heat recovery steam generator for flue gas. It has a drum.", "F22B 1/18"),
        ("en", "", "A regenerative braking system for a vehicle. It stores energy.", "B60T 1/10"),
        ("en", "", "Braking energy recovery in an electric vehicle. A motor brakes.", "B60T 1/10"),
        # The agricultural fields in English: a Chinese saved search alerts on them by class.
        ("en", "", "A seed drill meters grain into furrows. It has a hopper.", "A01C 7/00"),
        ("en", "", "An aerator for fish ponds. Paddles stir the water.", "A01K 63/04"),
    ],
}


def _write_fixture(folder: Path) -> None:
    for name, rows in FIXTURE.items():
        lines = [
            json.dumps(
                {
                    "source_id": f"{name}-{index}",
                    "lang": lang,
                    "title": title,
                    "abstract": abstract,
                    "ipc": [code],
                },
                ensure_ascii=False,
            )
            for index, (lang, title, abstract, code) in enumerate(rows)
        ]
        (folder / name).write_text("\n".join(lines) + "\n", encoding="utf-8")


def test_a_small_run_reports_every_method_and_view(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    _write_fixture(data)
    out = tmp_path / "out.json"
    completed = subprocess.run(  # noqa: S603 - a fixed argument list, no shell
        [
            sys.executable,
            "benchmarks/eval_relevance.py",
            str(data),
            "--queries",
            "3",
            "--alerts",
            "3",
            "--json",
            str(out),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert completed.returncode == 0, completed.stderr
    assert "search/bm25" in completed.stdout
    report = json.loads(out.read_text())
    assert report["listings"] == sum(len(rows) for rows in FIXTURE.values())
    assert set(report["table"]) == {"zh", "en", "zh->en", "en->zh", "zh->all", "en->all"}
    for label in ("zh", "en"):
        row = report["table"][label]
        assert row["queries"] == 3
        for method in evaluation.METHODS:
            assert 0 <= row[method]["p@10"] <= 1
            assert 0 <= row[method]["ndcg@10"] <= 1
    # Same-subclass listings share words here: the plain baseline finds some of them.
    assert report["table"]["zh"]["bm25"]["ndcg@10"] > 0
    assert report["table"]["en"]["bm25"]["ndcg@10"] > 0
    # The alerts report: each query record saved as a search, each listing alerted.
    assert "alerts: precision / recall / F1" in completed.stdout
    alerts = report["alerts"]
    assert alerts["saved queries"] + alerts["skipped queries"] == 6
    assert set(alerts["table"]) == {"zh", "en", "zh->en", "en->zh"}
    saved = alerts["saved queries"]
    assert alerts["table"]["zh"]["queries"] + alerts["table"]["en"]["queries"] == saved
    for row in alerts["table"].values():
        cells = [row[f"{threshold:.1f}"] for threshold in evaluation.ALERT_THRESHOLDS]
        for cell in cells:
            assert 0 <= cell["precision"] <= 1
            assert 0 <= cell["recall"] <= 1
        # A higher threshold alerts on no more listings.
        per_query = [cell["alerts per query"] for cell in cells]
        assert per_query == sorted(per_query, reverse=True)
    # Each Chinese query's best matches are in its field, and the English listing of that field
    # alerts by its class; a Chinese listing of its field alerts only by the words.
    assert alerts["table"]["zh->en"]["0.5"]["recall"] > 0
    assert alerts["table"]["zh->en"]["0.5"]["precision"] > 0
