"""Relevance of listing search and of need matching, measured against a labelled set.

What it does, in order:

1. creates a database of its own (a temporary SQLite file by default, or a database
   ``evalrelevance_<random>`` on the PostgreSQL server of ``--database-url``) and migrates it;
2. generates a seeded corpus of published listings in ten technology topics, each with two or
   three subtopics (Chinese and English titles and abstracts, IPC codes of the field, offers of
   every royalty type, owners in ten provinces), plus distractors that share a word with a
   topic but belong to another field (电池 in toys, "sensor" in furniture, 封装 in food
   packaging …); the search index is built by the app's own ``document_of`` /
   ``tsvector_literal`` (jieba segmentation and stemming), loaded as ``bench_search.py`` does;
3. posts a labelled set of technology needs (Chinese, English and mixed, written as an SME
   would describe its problem; some with IPC hints, budgets and regions) with ``create_need``;
   a listing's grade for a need is 2 when topic and subtopic are the need's, 1 when only the
   topic is, 0 otherwise (distractors are always 0); for the needs with a budget, a second,
   budget-aware grading lowers by one the grade of a listing that costs more than the budget;
4. ranks, for every need, (A) plain text search: ``search_listings`` with the need's title and
   description as ``q``, relevance sort, and (B) the blended ranking of ``match_need``;
5. reports precision@10 (grade >= 1, and strict: grade 2) and nDCG@10 (graded) per method, as a
   mean over all needs and per language group, and how often B beats, ties or loses to A on
   nDCG@10; then both methods over the needs with a budget, under either grading.

Usage (from the project root)::

    .venv/bin/python benchmarks/eval_relevance.py                    # SQLite, 2,000 listings
    .venv/bin/python benchmarks/eval_relevance.py \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python benchmarks/eval_relevance.py --listings 300 --seed 7 --json out.json
"""

from __future__ import annotations

import argparse
import json
import math
import random
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.bench_search import (
    LISTING_TABLES,
    ORGANIZATIONS,
    Loader,
    _organizations,
    add_published_listing,
)
from benchmarks.harness import bench_database, migrate
from marketplace.audit import recorder as audit_recorder
from marketplace.matching import search as matching
from marketplace.models import metadata
from marketplace.patents.identifiers import PatentKind

K = 10
NOW = datetime(2026, 11, 25, 9, 0, tzinfo=UTC)
TODAY = NOW.date()
DISTRACTOR = "distractor"


# Metrics ---------------------------------------------------------------------------------------


def precision_at_k(ranking: Sequence[int], grades: dict[int, int], k: int, minimum: int) -> float:
    """Share of the first ``k`` places (a short ranking counts its empty places as misses)
    taken by listings graded at least ``minimum``."""
    return sum(1 for item in ranking[:k] if grades.get(item, 0) >= minimum) / k


def dcg_at_k(gains: Sequence[int], k: int) -> float:
    return sum((2**gain - 1) / math.log2(place + 2) for place, gain in enumerate(gains[:k]))


def ndcg_at_k(ranking: Sequence[int], grades: dict[int, int], k: int) -> float:
    """DCG of the ranking over the DCG of the ideal ranking of all graded listings (0 when
    nothing is relevant)."""
    ideal = dcg_at_k(sorted(grades.values(), reverse=True), k)
    if ideal == 0:
        return 0.0
    return dcg_at_k([grades.get(item, 0) for item in ranking], k) / ideal


# Corpus ----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Subtopic:
    key: str
    zh: tuple[str, ...]  # phrases for titles and abstracts
    en: tuple[str, ...]
    ipc: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Topic:
    key: str
    zh: str
    en: str
    subtopics: tuple[Subtopic, ...]


def _sub(key: str, zh: str, en: str, ipc: str) -> Subtopic:
    return Subtopic(key, tuple(zh.split("|")), tuple(en.split("|")), tuple(ipc.split("|")))


TOPICS: tuple[Topic, ...] = (
    Topic(
        "battery",
        "锂电池",
        "lithium battery",
        (
            _sub(
                "thermal",
                "电池热管理|电池包液冷板|电芯温度均衡",
                (
                    "battery thermal management|liquid cooling plate "
                    "for battery packs|cell temperature balancing"
                ),
                "H01M 10/613|H01M 10/625|H01M 10/6556",
            ),
            _sub(
                "cathode",
                "磷酸铁锂正极材料|高镍三元正极|正极材料包覆",
                "lithium iron phosphate cathode|high-nickel cathode material|cathode coating",
                "H01M 4/58|H01M 4/525|H01M 4/36",
            ),
            _sub(
                "bms",
                "电池管理系统|荷电状态估算|电池均衡电路",
                "battery management system|state of charge estimation|cell balancing circuit",
                "H02J 7/00|G01R 31/367|H01M 10/48",
            ),
        ),
    ),
    Topic(
        "packaging",
        "芯片封装",
        "semiconductor packaging",
        (
            _sub(
                "flipchip",
                "倒装芯片封装|凸点下金属层|焊球阵列",
                "flip-chip packaging|under bump metallization|ball grid array",
                "H01L 23/498|H01L 21/60|H01L 23/488",
            ),
            _sub(
                "fanout",
                "扇出型晶圆级封装|重布线层|塑封晶圆翘曲",
                "fan-out wafer level packaging|redistribution layer|molded wafer warpage",
                "H01L 21/56|H01L 23/31|H01L 21/768",
            ),
        ),
    ),
    Topic(
        "sensor",
        "传感器",
        "sensor",
        (
            _sub(
                "gas",
                "气体传感器|金属氧化物气敏材料|甲醛检测",
                "gas sensor|metal oxide gas-sensitive film|formaldehyde detection",
                "G01N 27/12|G01N 33/00|G01N 27/407",
            ),
            _sub(
                "pressure",
                "压力传感器|MEMS压阻芯片|柔性压力传感",
                "pressure sensor|MEMS piezoresistive die|flexible pressure sensing",
                "G01L 9/00|G01L 1/18|B81B 3/00",
            ),
            _sub(
                "fiber",
                "光纤光栅传感器|分布式光纤测温|光纤应变监测",
                (
                    "fiber Bragg grating sensor|distributed fiber "
                    "temperature sensing|fiber strain monitoring"
                ),
                "G01D 5/353|G01K 11/32|G01B 11/16",
            ),
        ),
    ),
    Topic(
        "water",
        "污水处理",
        "wastewater treatment",
        (
            _sub(
                "membrane",
                "膜生物反应器|超滤膜抗污染|反渗透浓水",
                "membrane bioreactor|anti-fouling ultrafiltration membrane|reverse osmosis brine",
                "C02F 3/12|C02F 1/44|B01D 61/02",
            ),
            _sub(
                "nitrogen",
                "生物脱氮|厌氧氨氧化|高氨氮废水",
                "biological nitrogen removal|anammox process|high ammonia wastewater",
                "C02F 3/30|C02F 3/34|C02F 101/16",
            ),
            _sub(
                "heavy",
                "重金属废水|电镀废水回用|化学沉淀除镍",
                "heavy metal wastewater|electroplating wastewater reuse|nickel precipitation",
                "C02F 1/62|C02F 1/52|C02F 101/20",
            ),
        ),
    ),
    Topic(
        "crispr",
        "基因编辑",
        "gene editing",
        (
            _sub(
                "plant",
                "作物基因编辑|水稻抗病基因敲除|单碱基编辑育种",
                "crop gene editing|rice disease resistance knockout|base editing breeding",
                "C12N 15/82|A01H 6/46|C12N 15/113",
            ),
            _sub(
                "therapy",
                "基因治疗载体|腺相关病毒递送|CRISPR脱靶检测",
                "gene therapy vector|adeno-associated virus delivery|CRISPR off-target detection",
                "C12N 15/864|A61K 48/00|C12N 9/22",
            ),
        ),
    ),
    Topic(
        "drone",
        "无人机",
        "drone",
        (
            _sub(
                "spray",
                "植保无人机|农药喷洒系统|变量喷雾",
                "crop spraying drone|pesticide spraying system|variable rate spraying",
                "B64D 1/18|A01M 7/00|B64U 101/45",
            ),
            _sub(
                "inspection",
                "电力巡检无人机|输电线路巡检|自主避障飞行",
                (
                    "power line inspection drone|transmission line "
                    "inspection|autonomous obstacle avoidance"
                ),
                "B64C 39/02|G05D 1/10|H02G 1/02",
            ),
        ),
    ),
    Topic(
        "vision",
        "机器视觉",
        "machine vision",
        (
            _sub(
                "defect",
                "表面缺陷检测|视觉质检|划痕识别",
                "surface defect detection|visual quality inspection|scratch recognition",
                "G06T 7/00|G01N 21/88|G06V 10/82",
            ),
            _sub(
                "robot",
                "视觉引导机器人|手眼标定|无序抓取",
                "vision guided robot|hand-eye calibration|bin picking",
                "B25J 9/16|G06T 7/73|B25J 19/02",
            ),
        ),
    ),
    Topic(
        "hydrogen",
        "氢燃料电池",
        "hydrogen fuel cell",
        (
            _sub(
                "membrane",
                "质子交换膜|膜电极组件|催化剂层",
                "proton exchange membrane|membrane electrode assembly|catalyst layer",
                "H01M 8/1004|H01M 8/1018|H01M 4/92",
            ),
            _sub(
                "storage",
                "高压储氢瓶|车载供氢系统|氢气泄漏检测",
                "high-pressure hydrogen tank|on-board hydrogen supply|hydrogen leak detection",
                "F17C 1/06|H01M 8/04|F17C 13/02",
            ),
        ),
    ),
    Topic(
        "pv",
        "光伏",
        "photovoltaic",
        (
            _sub(
                "cell",
                "异质结太阳能电池|钝化接触|钙钛矿叠层",
                "heterojunction solar cell|passivated contact|perovskite tandem",
                "H01L 31/0747|H01L 31/18|H10K 30/50",
            ),
            _sub(
                "cleaning",
                "光伏组件清洗|清扫机器人|组件热斑检测",
                "PV module cleaning|panel cleaning robot|hot spot detection",
                "H02S 40/10|B08B 1/00|H02S 50/10",
            ),
        ),
    ),
    Topic(
        "speech",
        "语音识别",
        "speech recognition",
        (
            _sub(
                "farfield",
                "远场语音|麦克风阵列降噪|回声消除",
                "far-field speech|microphone array noise reduction|echo cancellation",
                "G10L 21/0208|H04R 3/00|G10L 15/20",
            ),
            _sub(
                "dialect",
                "方言识别|声学模型训练|低资源语音",
                "dialect recognition|acoustic model training|low-resource speech",
                "G10L 15/06|G10L 15/16|G10L 15/183",
            ),
        ),
    ),
)

# Share a word with a topic, belong to another field: always grade 0.
DISTRACTORS: tuple[tuple[str, str, str], ...] = (
    ("一种玩具电池盒的防拆结构", "a tamper-proof battery box for toys", "A63H 29/22"),
    ("一种儿童电动玩具车的电池仓", "battery compartment of a ride-on toy car", "A63H 17/26"),
    ("一种带传感器的智能床垫", "smart mattress with a sleep sensor", "A47C 27/00"),
    ("一种家具用感应灯传感器支架", "sensor bracket for furniture lights", "A47B 97/00"),
    ("一种食品封装盒的密封结构", "sealed food packaging box", "B65D 81/26"),
    ("一种礼品封装袋", "gift packaging bag", "B65D 33/00"),
    ("一种无人机航拍摄影的艺术表演装置", "drone light show for stage art", "A63J 5/02"),
    ("一种污水井盖的防盗锁", "anti-theft lock for sewer manhole covers", "E02D 29/14"),
    ("一种视觉艺术展示架", "visual art display stand", "A47F 7/14"),
    ("一种光伏发电主题的科普教具", "photovoltaic teaching model for classrooms", "G09B 23/18"),
    ("一种语音玩具的发声装置", "voice sound box for plush toys", "A63H 33/26"),
    ("一种氢气球的充气嘴", "inflation valve for hydrogen balloons", "A63H 27/10"),
)

SUBJECTS = ("制备方法", "控制方法", "检测装置", "系统及方法", "结构", "装置")
GAINS = ("效率", "稳定性", "寿命", "精度", "可靠性", "成本")
EN_GAINS = ("efficiency", "stability", "service life", "accuracy", "cost")
# Application sentences shared by every field, so that common words (温度, 检测, cost …) do not
# single out a topic.
USES = (
    "可用于电动汽车和储能领域",
    "适用于工业现场的在线检测",
    "降低了生产成本和能耗",
    "提高了温度控制精度",
    "适合户外和高湿环境长期使用",
    "可用于农业和环境监测",
)
EN_USES = (
    "It suits electric vehicles and energy storage.",
    "It enables online inspection on the factory floor.",
    "It lowers production cost and energy use.",
    "It improves temperature control accuracy.",
    "It works outdoors and in humid environments for years.",
)
ROYALTY_TYPES = ("lump_sum", "running", "hybrid", "per_unit")


@dataclass(frozen=True, slots=True)
class Truth:
    topic: str
    subtopic: str
    # The listing's one offer: its upfront fee (0 when it has none). The needs state no sales,
    # so this is what the license costs them.
    upfront_fee: Decimal = Decimal(0)


def _listing_text(rng: random.Random, topic: Topic, sub: Subtopic) -> tuple[str, str]:
    """A title and abstract: Chinese (60 %), English (20 %) or Chinese with an English
    summary (20 %)."""
    phrase, other = rng.sample(range(len(sub.zh)), 2)
    style = rng.random()
    zh_title = f"一种{sub.zh[phrase]}的{rng.choice(SUBJECTS)}"
    field = f"本发明涉及{topic.zh}技术领域\uff0c" if rng.random() < 0.5 else "本发明"
    zh_abstract = (
        f"{field}公开了一种{sub.zh[phrase]}\uff0c包括{sub.zh[other]}\uff0c"
        f"能够提高{rng.choice(GAINS)}\uff0c{rng.choice(USES)}。"
    )
    en_title = f"{sub.en[phrase].capitalize()} and method"
    field = f"relates to {topic.en} technology and " if rng.random() < 0.5 else ""
    en_abstract = (
        f"The invention {field}discloses a {sub.en[phrase]} with {sub.en[other]} that "
        f"improves {rng.choice(EN_GAINS)}. {rng.choice(EN_USES)}"
    )
    if style < 0.6:
        return zh_title, zh_abstract
    if style < 0.8:
        return en_title, en_abstract
    return zh_title, f"{zh_abstract} {en_abstract}"


def generate(listings: int, seed: int) -> tuple[dict[str, list[dict[str, Any]]], dict[int, Truth]]:
    """The rows of ``listings`` published listings (ids from 1) and each one's topic."""
    rng = random.Random(seed)
    tables: dict[str, list[dict[str, Any]]] = {name: [] for name in LISTING_TABLES}
    truth: dict[int, Truth] = {}
    for listing_id in range(1, listings + 1):
        if rng.random() < 0.15:
            zh, en, code = rng.choice(DISTRACTORS)
            title, abstract = (
                (zh, f"本实用新型公开了{zh[2:]}。") if rng.random() < 0.7 else (en, en)
            )
            codes = [code]
            known = Truth(DISTRACTOR, DISTRACTOR)
        else:
            topic = rng.choice(TOPICS)
            sub = rng.choice(topic.subtopics)
            title, abstract = _listing_text(rng, topic, sub)
            codes = list(dict.fromkeys(rng.sample(sub.ipc, 2)))
            known = Truth(topic.key, sub.key)
        type_digit = rng.choices((1, 2), weights=(75, 25))[0]
        kind = PatentKind.invention if type_digit == 1 else PatentKind.utility_model
        filing = date(2012, 1, 1) + timedelta(days=rng.randrange(0, 365 * 12))
        owner = 1 + rng.randrange(ORGANIZATIONS)
        published = NOW - timedelta(minutes=(listings - listing_id) * 7 + rng.randrange(7))
        royalty_type = rng.choice(ROYALTY_TYPES)
        upfront = (
            Decimal(rng.randrange(5, 800) * 1_000)
            if royalty_type in ("lump_sum", "hybrid")
            else None
        )
        rate = (
            Decimal(rng.randrange(50, 800)) / 100 if royalty_type in ("running", "hybrid") else None
        )
        truth[listing_id] = Truth(known.topic, known.subtopic, upfront or Decimal(0))
        add_published_listing(
            tables,
            listing_id=listing_id,
            owner=owner,
            kind=kind,
            type_digit=type_digit,
            filing=filing,
            title=title,
            abstract=abstract,
            codes=codes,
            published=published,
            royalty_type=royalty_type,
            upfront=upfront,
            rate=rate,
            per_unit_fee=Decimal(rng.randrange(1, 40)) if royalty_type == "per_unit" else None,
            term_years=rng.choice((3, 5)),
        )
    return tables, truth


# Needs -----------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LabelledNeed:
    language: str  # zh, en, mixed
    topic: str
    subtopic: str
    title: str
    description: str
    ipc: tuple[str, ...] = ()
    budget: int | None = None
    region: str | None = None


NEEDS: tuple[LabelledNeed, ...] = (
    LabelledNeed(
        "zh",
        "battery",
        "thermal",
        "电动自行车电池夏天过热",
        "我们做电动两轮车\uff0c电池包夏天温度太高\uff0c想找散热或者液冷的方案授权。",
        ("H01M 10/613",),
        300_000,
        "Zhejiang",
    ),
    LabelledNeed(
        "zh",
        "battery",
        "cathode",
        "想提高磷酸铁锂材料的容量",
        "小型材料厂\uff0c现有正极材料压实密度低\uff0c希望获得改性或包覆工艺。",
    ),
    LabelledNeed(
        "zh",
        "battery",
        "bms",
        "储能柜电量估不准",
        "储能产品的剩余电量显示经常跳变\uff0c需要更准的估算算法和均衡电路。",
        ("H02J 7/00",),
        200_000,
    ),
    LabelledNeed(
        "en",
        "battery",
        "thermal",
        "Our e-scooter packs overheat",
        (
            "We assemble scooter battery packs and need a cooling "
            "approach to keep cells at an even temperature."
        ),
        (),
        150_000,
        "Guangdong",
    ),
    LabelledNeed(
        "en",
        "battery",
        "bms",
        "Need a better battery monitor",
        (
            "Our home storage product shows wrong charge levels; "
            "we want a state of charge estimation method."
        ),
    ),
    LabelledNeed(
        "mixed",
        "battery",
        "cathode",
        "正极材料 cathode coating",
        "我们想改善三元材料循环寿命, looking for a coating process we can license.",
    ),
    LabelledNeed(
        "zh",
        "packaging",
        "flipchip",
        "芯片封装焊点开裂",
        "封测厂\uff0c倒装产品可靠性测试时焊球容易开裂\uff0c需要改进的凸点结构。",
        ("H01L 23/48",),
    ),
    LabelledNeed(
        "en",
        "packaging",
        "fanout",
        "Wafer warpage in our fan-out line",
        "Molded wafers warp after curing in our packaging line; we need a process fix.",
        ("H01L 21/56",),
        500_000,
        "Jiangsu",
    ),
    LabelledNeed(
        "zh",
        "packaging",
        "fanout",
        "晶圆级封装的布线层问题",
        "扇出封装的重布线良率低\uff0c希望引进成熟技术。",
    ),
    LabelledNeed(
        "zh",
        "sensor",
        "gas",
        "车间甲醛浓度监测",
        "家具厂需要便宜的甲醛检测传感器\uff0c放在车间里长期用。",
        (),
        50_000,
        "Guangdong",
    ),
    LabelledNeed(
        "en",
        "sensor",
        "pressure",
        "Cheap pressure sensing for insoles",
        "We make smart insoles and need a flexible pressure sensor design.",
    ),
    LabelledNeed(
        "zh",
        "sensor",
        "fiber",
        "桥梁应变长期监测",
        "做结构健康监测的公司\uff0c想用光纤测应变和温度。",
        ("G01D 5/353",),
    ),
    LabelledNeed(
        "mixed",
        "sensor",
        "gas",
        "gas sensor 气体检测",
        "养殖场氨气和有害气体报警, need a robust metal oxide sensor.",
    ),
    LabelledNeed(
        "en",
        "sensor",
        "fiber",
        "Temperature along a pipeline",
        "We monitor district heating pipes and want distributed fiber temperature sensing.",
    ),
    LabelledNeed(
        "zh",
        "water",
        "membrane",
        "膜污染太快",
        "我们的污水处理站超滤膜堵得很快\uff0c清洗频繁\uff0c想找抗污染膜技术。",
        ("C02F 1/44",),
        400_000,
        "Shandong",
    ),
    LabelledNeed(
        "zh",
        "water",
        "nitrogen",
        "养殖废水氨氮超标",
        "猪场废水氨氮很高\uff0c排放不达标\uff0c需要脱氮工艺。",
        ("C02F 3/30",),
        300_000,
    ),
    LabelledNeed(
        "en",
        "water",
        "heavy",
        "Plating shop wastewater",
        "Our electroplating line discharges nickel; we need a treatment and reuse process.",
        (),
        250_000,
        "Jiangsu",
    ),
    LabelledNeed(
        "mixed",
        "water",
        "nitrogen",
        "anammox 脱氮 process",
        "化工园区高氨氮废水 treatment, low energy nitrogen removal wanted.",
    ),
    LabelledNeed(
        "zh",
        "crispr",
        "plant",
        "水稻抗病育种",
        "种业公司想用基因编辑做抗病水稻品种。",
        ("C12N 15/82",),
    ),
    LabelledNeed(
        "en",
        "crispr",
        "therapy",
        "Safer gene therapy delivery",
        "Biotech startup looking for an AAV delivery vector and off-target detection.",
    ),
    LabelledNeed(
        "mixed",
        "crispr",
        "plant",
        "crop 基因编辑 breeding",
        "我们做蔬菜种子, need base editing tools for new varieties.",
    ),
    LabelledNeed(
        "zh",
        "drone",
        "spray",
        "果园打药太费人工",
        "合作社想用无人机喷洒农药\uff0c要求变量喷雾省药。",
        ("B64D 1/18",),
        100_000,
        "Sichuan",
    ),
    LabelledNeed(
        "en",
        "drone",
        "inspection",
        "Inspecting power lines",
        (
            "Utility contractor: we need drones that inspect transmission "
            "lines and avoid obstacles on their own."
        ),
    ),
    LabelledNeed(
        "zh",
        "drone",
        "inspection",
        "电网巡检自动化",
        "电力服务公司\uff0c输电线路巡检靠人爬塔\uff0c想用无人机替代。",
    ),
    LabelledNeed(
        "zh",
        "vision",
        "defect",
        "产品表面划痕人工挑不过来",
        "五金件生产线需要视觉质检\uff0c自动识别划痕和缺陷。",
        ("G06T 7/00",),
        200_000,
        "Zhejiang",
    ),
    LabelledNeed(
        "en",
        "vision",
        "robot",
        "Robot picking parts from a bin",
        "We need vision guided robot picking with easy hand-eye calibration.",
    ),
    LabelledNeed(
        "mixed",
        "vision",
        "defect",
        "缺陷检测 defect detection",
        "PCB 外观检测, looking for deep learning visual inspection.",
    ),
    LabelledNeed(
        "zh",
        "hydrogen",
        "membrane",
        "燃料电池膜电极成本高",
        "氢能企业想降低膜电极和催化剂成本\uff0c寻求专利许可。",
        ("H01M 8/10",),
        600_000,
        "Shanghai",
    ),
    LabelledNeed(
        "en",
        "hydrogen",
        "storage",
        "Hydrogen tank for trucks",
        "We build hydrogen trucks and need a high-pressure tank and leak detection.",
    ),
    LabelledNeed(
        "zh",
        "pv",
        "cleaning",
        "光伏板灰尘清洗",
        "西北电站组件积灰严重\uff0c需要清扫机器人。",
        ("H02S 40/10",),
        150_000,
        "Shaanxi",
    ),
    LabelledNeed(
        "en",
        "pv",
        "cell",
        "Higher efficiency solar cells",
        "Cell maker wants heterojunction or perovskite tandem technology.",
    ),
    LabelledNeed(
        "mixed",
        "pv",
        "cell",
        "钙钛矿 tandem 太阳能电池",
        "想提高电池转换效率, passivated contact process welcome.",
    ),
    LabelledNeed(
        "zh",
        "speech",
        "dialect",
        "客服语音听不懂方言",
        "呼叫中心的语音识别对方言效果差\uff0c需要方言识别技术。",
        (),
        100_000,
        "Sichuan",
    ),
    LabelledNeed(
        "en",
        "speech",
        "farfield",
        "Smart speaker can't hear across the room",
        "We need microphone array noise reduction and echo cancellation for far-field voice.",
    ),
    LabelledNeed(
        "mixed",
        "speech",
        "farfield",
        "远场语音 echo cancellation",
        "会议终端 microphone array 降噪方案。",
    ),
    LabelledNeed(
        "zh",
        "battery",
        "thermal",
        "储能电站电芯温差大",
        "集装箱储能温度不均\uff0c电芯寿命短\uff0c寻找热管理技术。",
        (),
        800_000,
        "Hubei",
    ),
)


def grades_for(
    need: LabelledNeed, truth: dict[int, Truth], *, budget_aware: bool = False
) -> dict[int, int]:
    """Topic and subtopic 2, topic only 1. Budget-aware: for a need with a budget, a listing
    whose license costs more than the budget is one grade lower (the SME cannot afford it, so
    as an answer it is worth less than one it can)."""
    grades: dict[int, int] = {}
    for listing_id, known in truth.items():
        if known.topic == need.topic:
            grade = 2 if known.subtopic == need.subtopic else 1
            if budget_aware and need.budget is not None and known.upfront_fee > need.budget:
                grade -= 1
            if grade:
                grades[listing_id] = grade
    return grades


# Run -------------------------------------------------------------------------------------------


METHODS = ("text search", "blended")
BUDGET_AWARE = "budget-aware"


def _metrics(rankings: Sequence[Sequence[int]], grades: dict[int, int]) -> dict[str, Any]:
    return {
        method: {
            "p@10": precision_at_k(ranking, grades, K, 1),
            "p@10 strict": precision_at_k(ranking, grades, K, 2),
            "ndcg@10": ndcg_at_k(ranking, grades, K),
            "returned": len(ranking),
        }
        for method, ranking in zip(METHODS, rankings, strict=True)
    }


def evaluate(url: str, truth: dict[int, Truth]) -> list[dict[str, Any]]:
    from sqlmodel import Session, col, select

    from marketplace.accounts.models import Organization, OrganizationKind
    from marketplace.db import create_db_engine
    from marketplace.matching import need_matching
    from marketplace.matching import needs as needs_service
    from marketplace.matching.models import NeedCreate, SearchSort

    engine = create_db_engine(url)
    results = []
    try:
        with Session(engine) as session:
            sme = session.scalars(
                select(Organization)
                .where(Organization.kind == OrganizationKind.enterprise)
                .order_by(col(Organization.id))
                .limit(1)
            ).one()
            for number, labelled in enumerate(NEEDS):
                need = needs_service.create_need(
                    session=session,
                    organization=sme,
                    data=NeedCreate(
                        title=labelled.title,
                        description=labelled.description,
                        ipc_codes=list(labelled.ipc),
                        budget_max=Decimal(labelled.budget) if labelled.budget else None,
                        region=labelled.region,
                    ),
                )
                found = matching.search_listings(
                    session=session,
                    q=f"{labelled.title} {labelled.description}",
                    sort=SearchSort.relevance,
                    limit=K,
                )
                text_ranking = [hit.listing_id for hit in found.hits]
                matches = need_matching.match_need(session=session, need=need, limit=K)
                blended = [match.listing.id for match in matches.items]
                grades = grades_for(labelled, truth)
                row: dict[str, Any] = {
                    "need": number,
                    "language": labelled.language,
                    "title": labelled.title,
                    "budget": labelled.budget,
                    "relevant": sum(1 for g in grades.values() if g >= 1),
                    "exact": sum(1 for g in grades.values() if g == 2),
                }
                rankings = (text_ranking, blended)
                row.update(_metrics(rankings, grades))
                if labelled.budget is not None:
                    affordable = grades_for(labelled, truth, budget_aware=True)
                    row[BUDGET_AWARE] = _metrics(rankings, affordable)
                results.append(row)
            session.rollback()
    finally:
        engine.dispose()
    return results


def _means(rows: list[dict[str, Any]]) -> dict[str, Any]:
    means: dict[str, Any] = {"needs": len(rows)}
    for method in METHODS:
        means[method] = {
            metric: sum(r[method][metric] for r in rows) / len(rows)
            for metric in ("p@10", "p@10 strict", "ndcg@10")
        }
    return means


def summary(results: list[dict[str, Any]]) -> dict[str, Any]:
    groups: dict[str, list[dict[str, Any]]] = {"all": results}
    for language in ("zh", "en", "mixed"):
        groups[language] = [r for r in results if r["language"] == language]
    table: dict[str, Any] = {group: _means(rows) for group, rows in groups.items() if rows}
    wins = sum(1 for r in results if r["blended"]["ndcg@10"] > r["text search"]["ndcg@10"] + 1e-9)
    losses = sum(1 for r in results if r["blended"]["ndcg@10"] < r["text search"]["ndcg@10"] - 1e-9)
    table["blended vs text (ndcg@10)"] = {
        "wins": wins,
        "ties": len(results) - wins - losses,
        "losses": losses,
    }
    with_budget = [r for r in results if BUDGET_AWARE in r]
    if with_budget:
        table[BUDGET_AWARE] = {
            "topic grades": _means(with_budget),
            "budget-aware grades": _means([r[BUDGET_AWARE] for r in with_budget]),
        }
    return table


def print_table(table: dict[str, Any], label: str, listings: int) -> None:
    print(f"\n{label}, {listings:,} listings, {len(NEEDS)} needs, k = {K}")
    print(f"{'group':8} {'needs':>5} {'method':12} {'P@10':>6} {'P@10 (2)':>9} {'nDCG@10':>8}")
    for group in ("all", "zh", "en", "mixed"):
        if group not in table:
            continue
        for method in METHODS:
            figures = table[group][method]
            print(
                f"{group:8} {table[group]['needs']:>5} {method:12} {figures['p@10']:>6.3f} "
                f"{figures['p@10 strict']:>9.3f} {figures['ndcg@10']:>8.3f}"
            )
    versus = table["blended vs text (ndcg@10)"]
    print(
        f"blended vs text search on nDCG@10: {versus['wins']} wins, {versus['ties']} ties, "
        f"{versus['losses']} losses"
    )
    if BUDGET_AWARE in table:
        budgets = table[BUDGET_AWARE]
        print(
            f"\nthe {budgets['topic grades']['needs']} needs with a budget; budget-aware grades "
            "are one lower for listings that cost more than the budget"
        )
        print(f"{'grades':20} {'method':12} {'P@10':>6} {'P@10 (2)':>9} {'nDCG@10':>8}")
        for grading, means in budgets.items():
            for method in METHODS:
                figures = means[method]
                print(
                    f"{grading:20} {method:12} {figures['p@10']:>6.3f} "
                    f"{figures['p@10 strict']:>9.3f} {figures['ndcg@10']:>8.3f}"
                )


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.splitlines()[0] if __doc__ else None,
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    parser.add_argument("--database-url", help="PostgreSQL server URL (default: SQLite file)")
    parser.add_argument("--listings", type=int, default=2_000)
    parser.add_argument("--seed", type=int, default=20261125)
    parser.add_argument("--json", type=Path, help="write per-need figures and the summary here")
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    # Sessions opened here record audited changes, as the app\'s and the commands\' do.
    audit_recorder.install()
    args = parse_args(argv)
    tables, truth = generate(args.listings, args.seed)
    workdir = Path(tempfile.mkdtemp(prefix="eval-relevance-"))
    with bench_database(args.database_url, workdir, args.keep, name="evalrelevance") as database:
        migrate(database.url)
        engine = sa.create_engine(database.url)
        try:
            with engine.begin() as connection:
                connection.execute(metadata.tables["organization"].insert(), _organizations())
            Loader(engine)._write(tables)
            if database.postgresql:
                with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as c:
                    c.exec_driver_sql("VACUUM ANALYZE")
        finally:
            engine.dispose()
        results = evaluate(database.url, truth)
    table = summary(results)
    label = "PostgreSQL" if database.postgresql else "SQLite"
    print_table(table, label, args.listings)
    if args.json:
        args.json.write_text(
            json.dumps(
                {
                    "database": label,
                    "listings": args.listings,
                    "seed": args.seed,
                    "summary": table,
                    "needs": results,
                },
                ensure_ascii=False,
                indent=2,
            )
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
