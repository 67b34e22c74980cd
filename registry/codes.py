"""Unified codes: 6-digit county (GB/T 2260) + 2-digit 大类 + 2-digit 小类 + 6-digit serial
(CJ/T 214-2007 body) + one ISO 7064 MOD 11,10 check digit, 17 digits in all.

Pure functions: a code can be checked and explained offline, against a `Dictionary`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
from stdnum.iso7064 import mod_11_10

from registry.errors import InvalidCode

if TYPE_CHECKING:
    from registry.dictionary import Dictionary

LENGTH = 17
MAX_SERIAL = 999_999


@dataclass(frozen=True)
class Code:
    county: str
    major: str
    minor: str
    serial: int
    check: str

    @property
    def category(self) -> str:
        return self.major + self.minor

    @property
    def body(self) -> str:
        return f"{self.county}{self.major}{self.minor}{self.serial:06d}"

    def __str__(self) -> str:
        return self.body + self.check


def check_digit(body: str) -> str:
    """The ISO 7064 MOD 11,10 check digit of a 16-digit body."""
    return mod_11_10.calc_check_digit(body)


def make(county: str, category: str, serial: int) -> str:
    if not 1 <= serial <= MAX_SERIAL:
        raise ValueError(f"serial {serial} outside 1..{MAX_SERIAL}")
    body = f"{county}{category}{serial:06d}"
    return body + check_digit(body)


def make_range(county: str, category: str, first: int, n: int) -> list[str]:
    """`make` of serials `first` … `first + n - 1` of one class, the check digits in bulk."""
    return range_array(county, category, first, n).astype(f"U{LENGTH}").tolist()


def range_array(county: str, category: str, first: int, n: int) -> np.ndarray:
    """The codes of serials `first` … `first + n - 1` of one class as ASCII bytes (numpy
    "S17"), made in numpy: a million in 0.05 s, where formatting them one by one took 0.3 s."""
    digits = np.empty((n, LENGTH), dtype=np.uint8)
    digits[:, :10] = np.frombuffer((county + category).encode("ascii"), dtype=np.uint8)
    serials = np.arange(first, first + n, dtype=np.int64)
    for i, power in enumerate((100_000, 10_000, 1_000, 100, 10, 1)):
        digits[:, 10 + i] = serials // power % 10 + ord("0")
    digits[:, 16] = np.frombuffer(check_digits(county, category, first, n).encode("ascii"),
                                  dtype=np.uint8)
    return digits.view(f"S{LENGTH}").ravel()


def check_digits(county: str, category: str, first: int, n: int) -> str:
    """The check digits of serials `first` … `first + n - 1` of one class, as one string
    (character i belongs to serial first + i): ISO 7064 MOD 11,10 run over numpy arrays, equal
    to `check_digit` for every body (tested) at a hundredth of its cost per code."""
    if n < 1:
        return ""
    if not 1 <= first <= first + n - 1 <= MAX_SERIAL:
        raise ValueError(f"serials {first}..{first + n - 1} outside 1..{MAX_SERIAL}")
    state = 5  # the prefix is the same for all: run it once, as mod_11_10.checksum does
    for ch in county + category:
        state = (((state or 10) * 2) % 11 + int(ch)) % 10
    serials = np.arange(first, first + n, dtype=np.int64)
    check = np.full(n, state, dtype=np.int64)
    for power in (100_000, 10_000, 1_000, 100, 10, 1):
        check = (np.where(check == 0, 10, check) * 2 % 11 + serials // power % 10) % 10
    digits = (1 - np.where(check == 0, 10, check) * 2 % 11) % 10
    return (digits.astype(np.uint8) + ord("0")).tobytes().decode("ascii")


def parse(text: str) -> Code:
    """Split a code into its parts, refusing it with the exact reason when it is malformed."""
    code = text.strip()
    if not code.isascii() or not code.isdigit():
        bad = next((c for c in code if not ("0" <= c <= "9")), "")
        raise InvalidCode(
            f"a code has only digits; {code!r} contains {bad!r}" if code else "the code is empty",
            reason="non_digit",
        )
    if len(code) != LENGTH:
        raise InvalidCode(
            f"a code has {LENGTH} digits (16-digit body + check digit); {code!r} has {len(code)}",
            reason="length",
        )
    expected = check_digit(code[:16])
    if code[16] != expected:
        raise InvalidCode(
            f"check digit of {code} is wrong: a digit was mistyped or two digits swapped "
            f"(for body {code[:16]} it would be {expected})",
            reason="check_digit",
        )
    serial = int(code[10:16])
    if serial == 0:
        raise InvalidCode(f"serial 000000 in {code} is never issued", reason="serial")
    return Code(code[:6], code[6:8], code[8:10], serial, code[16])


def validate(text: str, dictionary: Dictionary) -> Code:
    """`parse`, then require a known county and a known 大类/小类."""
    code = parse(text)
    if code.county not in dictionary.counties:
        raise InvalidCode(
            f"county {code.county} of {code} is not a known county (GB/T 2260)",
            reason="unknown_county",
        )
    if code.major not in dictionary.majors:
        raise InvalidCode(
            f"大类 {code.major} of {code} is not in the category dictionary",
            reason="unknown_major",
        )
    if code.category not in dictionary.categories:
        raise InvalidCode(
            f"小类 {code.minor} of 大类 {code.major} ({code.category}) in {code} "
            "is not in the category dictionary",
            reason="unknown_category",
        )
    return code


def explain(text: str, dictionary: Dictionary) -> dict[str, Any]:
    """What a valid code says: district, 大类, 小类 and serial, with names."""
    code = validate(text, dictionary)
    county = dictionary.counties[code.county]
    major = dictionary.majors[code.major]
    category = dictionary.categories[code.category]
    return {
        "code": str(code),
        "valid": True,
        "county": {"code": code.county, "name_zh": county.name_zh, "name_en": county.name_en},
        "major": {"code": code.major, "name_zh": major.name_zh, "name_en": major.name_en},
        "category": {
            "code": code.category, "name_zh": category.name_zh, "name_en": category.name_en,
        },
        "serial": code.serial,
        "check_digit": code.check,
    }
