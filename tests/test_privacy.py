"""Pseudonymisation key handling, keyed hashes and the personal-data scanner."""
from __future__ import annotations

import hashlib
import hmac

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from svcresearch import privacy
from svcresearch._validation import InputError


def test_hmac_matches_rfc4231_case2():
    # RFC 4231 section 4.3 (test case 2): key "Jefe", data "what do ya want for nothing?",
    # HMAC-SHA-256 = 5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843
    assert privacy.pseudonym("what do ya want for nothing?", prefix="emp", key=b"Jefe") == "emp_5bdcc146bf"


def test_pseudonymise_vectorised_equals_hmac_and_keeps_na():
    key = b"k" * 32
    s = pd.Series(["E-00012", None, "E-00012", "E-00013"], dtype="string")
    out = privacy.pseudonymise(s, prefix="emp", key=key)
    want = "emp_" + hmac.new(key, b"E-00012", hashlib.sha256).hexdigest()[:10]
    assert out.iloc[0] == want == out.iloc[2]
    assert out.iloc[1] is pd.NA and out.iloc[3] != want
    # another key gives other pseudonyms (a plain hash would not depend on the key)
    assert privacy.pseudonymise(s, prefix="emp", key=b"other").iloc[0] != want
    with pytest.raises(TypeError, match="key"):
        privacy.pseudonymise(s, prefix="emp", key="text")


def test_fast_hmac_matches_rfc4231_and_stdlib_for_all_key_lengths():
    # RFC 4231 section 4.7 (test case 6): key 0xaa * 131 (longer than the block: hashed first),
    # data "Test Using Larger Than Block-Size Key - Hash Key First", HMAC-SHA-256 =
    # 60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54
    digest = privacy._hmac_sha256(b"\xaa" * 131)
    assert digest(b"Test Using Larger Than Block-Size Key - Hash Key First").hex() == \
        "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"
    # RFC 4231 test case 2 (as above)
    assert privacy._hmac_sha256(b"Jefe")(b"what do ya want for nothing?").hex() == \
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    # shorter than, equal to and longer than the 64-byte block; the padded-key states are reused
    messages = [b"", b"E-00012", "C-äö 1".encode("utf-8"), b"x" * 200]
    for key in (b"", b"k", b"fixed", bytes(range(64)), bytes(range(65)), b"z" * 300):
        digest = privacy._hmac_sha256(key)
        for msg in messages * 2:
            assert digest(msg) == hmac.new(key, msg, hashlib.sha256).digest(), (key, msg)


def test_pseudonymise_equals_pseudonym_of_each_value():
    values = pd.Series([f"C-{i:06d}" for i in range(0, 3000, 7)] + [None, "  x  ", "ä"], dtype="string")
    out = privacy.pseudonymise(values, prefix="cus", key=b"fixed")
    want = [pd.NA if v is pd.NA else privacy.pseudonym(v, prefix="cus", key=b"fixed") for v in values]
    assert out.dtype == "string" and out.tolist() == want


def test_key_file_created_once_with_notice(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(privacy.KEY_ENV, raising=False)
    monkeypatch.setattr(privacy, "_notice_printed", False)
    path = tmp_path / ".svcresearch_key"
    k1 = privacy.load_key(key_path=path)
    assert path.exists() and len(k1) == 64 and (path.stat().st_mode & 0o077) == 0
    assert "created a new pseudonymisation key" in capsys.readouterr().err
    assert privacy.load_key(key_path=path) == k1
    assert capsys.readouterr().err == ""
    with pytest.raises(InputError, match="nokey"):
        privacy.load_key(key_path=tmp_path / "nokey", create=False)
    (tmp_path / "empty").write_text("")
    with pytest.raises(InputError, match="empty"):
        privacy.load_key(key_path=tmp_path / "empty")


def test_env_key_wins_over_default_file(monkeypatch):
    monkeypatch.setenv(privacy.KEY_ENV, "from-env-0123456789")
    assert privacy.load_key() == b"from-env-0123456789"


def test_short_keys_are_refused(tmp_path, monkeypatch):
    # a short key is guessable, and a guessed key reverses every pseudonym
    monkeypatch.setenv(privacy.KEY_ENV, "short")
    with pytest.raises(InputError, match="SVCRESEARCH_KEY has 5 characters; expected at least 16"):
        privacy.load_key()
    monkeypatch.delenv(privacy.KEY_ENV)
    (tmp_path / "key").write_text("abc\n")
    with pytest.raises(InputError, match="has 3 characters"):
        privacy.load_key(key_path=tmp_path / "key")


def test_default_key_file_is_git_ignored():
    from svcresearch import config

    ignored = (config.PROJECT_ROOT / ".gitignore").read_text().splitlines()
    assert privacy.KEY_FILE_NAME in ignored


@pytest.mark.parametrize("text, kind", [
    ("maija.meikalainen@example.fi", "email"), ("Soita: 040 123 4567", "phone"),
    ("+358 40 1234567", "phone"), ("050-1234567", "phone"), ("0401234567", "phone"),
    ("matti@posti.example.com kiitos", "email"),
])
def test_scanner_finds_contacts(text, kind):
    hits = privacy.scan_frame(pd.DataFrame({"c": [text]}))
    assert kind in set(hits["kind"])


@pytest.mark.parametrize("text", ["ENC-000123", "E-00012", "C-000123", "SP01", "emp_0401234567",
                                  "cus_0501234567", "2026-03-02 10:15", "22.11.2026 14.05", "3,5",
                                  "genuine", "ENC-001234"])
def test_scanner_ignores_our_identifiers_and_dates(text):
    assert privacy.scan_frame(pd.DataFrame({"c": [text]})).empty


def test_scanner_reports_rows_and_rejects_unknown_columns():
    df = pd.DataFrame({"a": ["x", "a@b.fi", "y", "a@b.fi"], "n": [1, 2, 3, 4]})
    hits = privacy.scan_frame(df)
    assert hits["row"].tolist() == [1, 3] and set(hits["column"]) == {"a"}
    with pytest.raises(ValueError, match="zzz"):
        privacy.scan_frame(df, columns=["zzz"])


def _scan_every_row(data: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Reference: both patterns on every row's text, rows in order within each distinct value
    (the order scan_frame reports them: distinct values by first appearance)."""
    hits = []
    for col in columns:
        texts = [None if pd.isna(x) else str(x) for x in data[col].tolist()]
        first = list(dict.fromkeys(t for t in texts if t is not None))
        for u in first:
            found = [("email", m.group(0)) for m in privacy.EMAIL_PATTERN.finditer(u)]
            found += [("phone", m.group(0)) for m in privacy.PHONE_PATTERN.finditer(u)]
            rows = [r for r, t in enumerate(texts) if t == u]
            for kind, match in found:
                hits.extend((col, r, kind, match) for r in rows)
    return pd.DataFrame(hits, columns=["column", "row", "kind", "match"])


_PIECES = ["a@b.fi", "x.y@example.com", "040 123 4567", "+358 40 1234567", "0401234567", "ENC-000123",
           "E-00012", "١٢٣٤٥٦٧", "0١٢٣ ٤٥٦٧٨", "kyllä", "", " ", "@", "12345", "050-123 45 67", "mail: ",
           "00358 (0) 40 123 4567", "01 23 45", "+1 2 34 56", "٠١ ٢٣ ٤٥", "+١ ٢ ٣٤ ٥٦", "01 23 4"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=3).map(" ".join) | st.none(), min_size=1,
                max_size=30), st.booleans())
def test_scan_frame_equals_scanning_every_row(texts, categorical):
    # the arrow prefilter (an "@", or six Unicode digits) must never hide a match; categorical
    # columns are scanned by their codes, with unused categories never reported
    col = pd.Series(texts, dtype="string")
    if categorical:
        col = col.astype(pd.CategoricalDtype(sorted(set(t for t in texts if t is not None)) + ["z@q.fi"]))
    df = pd.DataFrame({"c": col, "d": pd.Series(texts[::-1], dtype="string")})
    got = privacy.scan_frame(df)
    pd.testing.assert_frame_equal(got, _scan_every_row(df, ["c", "d"]), check_dtype=False)


def test_key_file_that_is_not_text_is_a_one_line_error(tmp_path):
    (tmp_path / "key").write_bytes(b"\xff\xfe" + b"\x00" * 40)
    with pytest.raises(InputError, match="not UTF-8 text"):
        privacy.load_key(key_path=tmp_path / "key")
