"""Chinese names, national id numbers, mobiles, addresses and the branch network.

Everything is vectorised over numpy arrays: generating a million customers' identities
takes about a second.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SURNAMES = np.array(
    list(
        "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓"
        "曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈姚卢"
    )
)
GIVEN = np.array(
    list(
        "伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超兰霞平刚桂华玉萍红玲芬燕彬"
        "鹏辉宇浩凯婷雪琳晨欣怡子轩梓涵"
    )
)
COMPANY_WORDS = np.array(
    [
        "华信",
        "宏达",
        "鼎盛",
        "恒通",
        "嘉禾",
        "瑞丰",
        "中联",
        "金桥",
        "远航",
        "新元",
        "天成",
        "汇智",
        "东方",
        "安泰",
        "长城",
    ]
)
COMPANY_TRADES = np.array(["贸易", "科技", "制造", "物流", "建设", "医药", "食品", "能源"])
OCCUPATIONS = np.array(
    ["职员", "教师", "医生", "工程师", "个体经营", "公务员", "退休", "学生", "销售", "自由职业"]
)
STREETS = np.array(["人民路", "解放路", "中山路", "建设路", "和平街", "长江路", "新华路", "文化路"])
MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        158,
        159,
        176,
        177,
        180,
        186,
        187,
        188,
        189,
        199,
    ]
)


@dataclass(frozen=True)
class City:
    name: str
    region: str
    area_code: str  # first six digits of a resident id registered there
    weight: float


CITIES: tuple[City, ...] = (
    City("北京", "华北", "110105", 0.18),
    City("上海", "华东", "310115", 0.20),
    City("广州", "华南", "440106", 0.14),
    City("深圳", "华南", "440305", 0.14),
    City("杭州", "华东", "330106", 0.10),
    City("成都", "西南", "510107", 0.09),
    City("武汉", "华中", "420106", 0.08),
    City("西安", "西北", "610113", 0.07),
)
BRANCHES_PER_CITY = 3


def branches_frame() -> pd.DataFrame:
    """Head office, one regional office per region, and branches in each city."""
    rows = [("HO0000", "总行 Head office", "北京", "全国", None, "head_office")]
    regions = sorted({c.region for c in CITIES})
    for index, region in enumerate(regions, start=1):
        rows.append(
            (
                f"RG{index:04d}",
                f"{region}区域分行",
                CITIES[0].name
                if region == "华北"
                else next(c.name for c in CITIES if c.region == region),
                region,
                "HO0000",
                "region",
            )
        )
    region_code = {region: f"RG{i:04d}" for i, region in enumerate(regions, start=1)}
    for city_index, city in enumerate(CITIES, start=1):
        for branch in range(1, BRANCHES_PER_CITY + 1):
            rows.append(
                (
                    branch_code(city_index, branch),
                    f"{city.name}第{branch}支行",
                    city.name,
                    city.region,
                    region_code[city.region],
                    "branch",
                )
            )
    return pd.DataFrame(
        rows, columns=["branch_code", "branch_name", "city", "region", "parent_code", "level"]
    )


def branch_code(city_index: int, branch: int) -> str:
    return f"BR{city_index:02d}{branch:02d}"


def all_branch_codes() -> np.ndarray:
    return np.array(
        [
            branch_code(c, b)
            for c in range(1, len(CITIES) + 1)
            for b in range(1, BRANCHES_PER_CITY + 1)
        ]
    )


def person_names(rng: np.random.Generator, n: int) -> np.ndarray:
    surname = SURNAMES[rng.integers(len(SURNAMES), size=n)]
    first = GIVEN[rng.integers(len(GIVEN), size=n)]
    second = GIVEN[rng.integers(len(GIVEN), size=n)]
    two_chars = rng.random(n) < 0.6
    return np.where(
        two_chars, np.char.add(np.char.add(surname, first), second), np.char.add(surname, first)
    )


def company_names(rng: np.random.Generator, n: int, cities: np.ndarray) -> np.ndarray:
    word = COMPANY_WORDS[rng.integers(len(COMPANY_WORDS), size=n)]
    trade = COMPANY_TRADES[rng.integers(len(COMPANY_TRADES), size=n)]
    return np.char.add(np.char.add(np.char.add(cities, word), trade), "有限公司")


def national_ids(
    rng: np.random.Generator, area_codes: np.ndarray, birth: np.ndarray, male: np.ndarray
) -> np.ndarray:
    """GB 11643 resident id numbers: area, birth date, sequence (odd for men), check digit."""
    n = len(area_codes)
    sequence = rng.integers(0, 50, size=n) * 2 + np.where(male, 1, 0) + 2 * rng.integers(0, 4, n)
    sequence = np.clip(sequence, 0, 999)
    dates = pd.DatetimeIndex(birth).strftime("%Y%m%d").to_numpy()
    first17 = np.char.add(
        np.char.add(area_codes.astype(str), dates.astype(str)),
        np.char.zfill(sequence.astype(str), 3),
    )
    digits = np.array([list(s) for s in first17], dtype=np.int64)
    check = np.array(list(_CHECK))[(digits * np.array(_WEIGHTS)).sum(axis=1) % 11]
    return np.char.add(first17, check)


def credit_codes(rng: np.random.Generator, n: int) -> np.ndarray:
    """18-character unified social credit codes for corporate customers (format only)."""
    alphabet = np.array(list("0123456789ABCDEFGHJKLMNPQRTUWXY"))
    body = alphabet[rng.integers(len(alphabet), size=(n, 16))]
    return np.char.add("91", np.array(["".join(row) for row in body]))


def mobiles(rng: np.random.Generator, n: int) -> np.ndarray:
    if n == 0:
        return np.array([], dtype=str)
    prefix = MOBILE_PREFIXES[rng.integers(len(MOBILE_PREFIXES), size=n)].astype(str)
    return np.char.add(prefix, np.char.zfill(rng.integers(0, 10**8, size=n).astype(str), 8))


def addresses(rng: np.random.Generator, cities: np.ndarray) -> np.ndarray:
    n = len(cities)
    street = STREETS[rng.integers(len(STREETS), size=n)]
    number = rng.integers(1, 999, size=n).astype(str)
    return np.char.add(np.char.add(np.char.add(np.char.add(cities, "市"), street), number), "号")


_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_CHECK = "10X98765432"


def gb11643_check_digit(first17: str) -> str:
    """The 18th character of a PRC resident id number (ISO 7064 MOD 11-2)."""
    total = sum(int(d) * w for d, w in zip(first17, _WEIGHTS, strict=True))
    return _CHECK[total % 11]


def check_ids(ids: np.ndarray) -> bool:
    """True when every id number carries a valid check digit (used by tests)."""
    return all(gb11643_check_digit(i[:17]) == i[17] for i in ids)
