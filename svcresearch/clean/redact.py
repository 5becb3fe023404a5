"""One redaction for every raw value the cleaner writes outside ``encounters.parquet``.

A raw value reaches ``quarantine.csv``, the cleaning report and ``coding_long.parquet`` only
when it is safe to show; everything else is replaced by a keyed-hash token ``<hidden h_…>``
(the same raw value gives the same token, so a repeated problem is still recognisable, but
the value cannot be read back without the key). Every raw value is treated as potentially
personal unless the codebook says otherwise:

* personal data (role ``pii``, not allowed in the output) → ``<pii withheld>``;
* identifiers with a pseudonym prefix (employee, customer) → their pseudonym;
* identifiers with an ``id_format`` (encounter, service point) → shown when they look like an
  identifier: up to 4 letters, then digits with separators (``ENC-000123-2``, `` e12``);
* values of codebook code columns (a value set, numbers, date-times) and other short codes
  (coder, BORIS behaviour and modifier names, event times) → shown when they are short codes:
  at most 24 characters of digits and punctuation (``99``, ``12,5``, ``2.3.2026 10.15``), or at
  most 16 characters of letters, digits, spaces, ``_ . -`` with no capitalised word of four or
  more letters (``yes``, ``K``, ``TRUE``, ``maybe``, ``kylla``; but not ``Matti`` or ``Kyllä``);
* anything matching an e-mail address, a phone number or a Finnish personal identity code
  (``131052-308T``) is never shown, whatever the column;
* everything else — free text, names, long cells — is hidden.

Residual risk, stated: a short lower-case first name typed into a code column (``ari``) looks
like a code and is shown. Hiding every letter would hide the typos a researcher must fix.
"""
from __future__ import annotations

import re

import numpy as np
import pandas as pd

from svcresearch import privacy
from svcresearch.codebook import Codebook, Variable

PII_WITHHELD = "<pii withheld>"
HIDDEN_PREFIX = "h"
_NUMERIC_CODE = re.compile(r"[0-9 .,:;/%+\-()?!*]{1,24}")
_WORD_CODE = re.compile(r"[\w .\-?!*]{1,16}")
_NAME_LIKE = re.compile(r"(?<![\w])[A-ZÅÄÖÜ][a-zåäöüéè]{3,}")
_ID_LIKE = re.compile(r"[A-Za-z]{0,4}[ _\-]?[0-9][0-9 .,_\-]{0,19}")
# Finnish personal identity code: ddmmyy, century sign (+ - A B C D E F U V W X Y), 3 digits, check character
_HETU = re.compile(r"(?<!\d)\d{6}[-+A-FU-Y]\d{3}[0-9A-Y](?![\w])", re.IGNORECASE)
_MAX_SCAN = 256


def is_personal(text: str) -> bool:
    """True when ``text`` holds an e-mail address, a phone number or a personal identity code."""
    head = text[:_MAX_SCAN]
    return bool(_HETU.search(head) or privacy.EMAIL_PATTERN.search(head) or privacy.PHONE_PATTERN.search(head)) \
        or len(text) > _MAX_SCAN


def is_safe_code(text: str) -> bool:
    """A short code that cannot be a name, an address or free text (see the module docstring)."""
    if is_personal(text):
        return False
    if _NUMERIC_CODE.fullmatch(text):
        return True
    return bool(_WORD_CODE.fullmatch(text)) and not _NAME_LIKE.search(text)


def is_safe_id(text: str) -> bool:
    """An identifier-looking value: a short prefix and digits (``ENC-000123-2``, ``e12``)."""
    return not is_personal(text) and bool(_ID_LIKE.fullmatch(text.strip()))


class Redactor:
    """Decides, value by value, what the cleaner may show of raw data (module docstring)."""

    def __init__(self, codebook: Codebook, key: bytes):
        self.codebook = codebook
        self.key = key

    def hide(self, values: pd.Series) -> np.ndarray:
        """Keyed-hash tokens for values that may not be shown (NA stays NA)."""
        tokens = privacy.pseudonymise(values.astype("string"), prefix=HIDDEN_PREFIX, key=self.key)
        return np.array([None if pd.isna(t) else f"<hidden {t}>" for t in tokens], dtype=object)

    def _apply(self, values, safe) -> np.ndarray:
        vals = pd.Series(values, dtype="string").reset_index(drop=True)
        out = vals.to_numpy(dtype=object, na_value=None)
        codes, uniques = pd.factorize(vals, use_na_sentinel=True)
        unsafe = np.array([not safe(str(u)) for u in uniques], dtype=bool)
        if unsafe.any():
            rows = np.flatnonzero(np.isin(codes, np.flatnonzero(unsafe)))
            out[rows] = self.hide(vals.iloc[rows])
        return out

    def __call__(self, v: Variable, values) -> np.ndarray:
        """What ``quarantine.csv`` may show of raw values of codebook variable ``v``."""
        vals = pd.Series(values, dtype="string").reset_index(drop=True)
        if v.role == "pii" and not v.allow_in_output:
            return np.full(len(vals), PII_WITHHELD, dtype=object)
        if v.pseudonymise:
            return privacy.pseudonymise(vals.str.strip(), prefix=v.pseudonymise, key=self.key).to_numpy(dtype=object)
        if v.id_format:
            return self._apply(vals, is_safe_id)
        return self._apply(vals, is_safe_code)

    def ids(self, values) -> np.ndarray:
        """Raw identifiers without a codebook variable (BORIS observation ids)."""
        return self._apply(values, is_safe_id)

    def codes(self, values) -> np.ndarray:
        """Other raw values: behaviour and modifier names, event times, coder codes."""
        return self._apply(values, is_safe_code)

    def header(self, name: str) -> str:
        """A raw column name for the report: hidden when it holds personal data or a full name."""
        text = str(name)
        if is_personal(text) or len(_NAME_LIKE.findall(text)) >= 2 and len(text) <= 40 and " " in text:
            return str(self.hide(pd.Series([text]))[0])
        return text
