"""Formats the OpenAPI documents name that JSON Schema cannot state, for schemathesis.

`licence-number`: 17 digits (a region, a birth date from 1900 to 2099, a sequence) and
the ISO 7064 MOD 11-2 check character, written here independently of the Rust code
(keys/src/licence.rs), so that generated numbers are well formed.
"""

import datetime

import schemathesis
from hypothesis import strategies as st

# 2^(17 - i) mod 11 for positions i = 0..16 (ISO 7064 MOD 11-2).
WEIGHTS = [pow(2, 17 - i, 11) for i in range(17)]


def check_character(body: str) -> str:
    remainder = (12 - sum(int(d) * w for d, w in zip(body, WEIGHTS)) % 11) % 11
    return "X" if remainder == 10 else str(remainder)


def licence_number(region: int, birth: datetime.date, sequence: int) -> str:
    body = f"{region:06}{birth:%Y%m%d}{sequence:03}"
    return body + check_character(body)


schemathesis.openapi.format(
    "licence-number",
    st.builds(
        licence_number,
        st.integers(0, 999_999),
        st.dates(datetime.date(1900, 1, 1), datetime.date(2099, 12, 31)),
        st.integers(0, 999),
    ),
)
