"""Pseudonymization at ingest (``VIDREC_PSEUDONYMIZE``): every user id read from a landing file becomes its keyed
hash, ``vidrec.privacy.pseudonym`` computed in Spark (HMAC-SHA256 from ``sha2`` over the padded key, RFC 2104), so
no clear id reaches the lake, and through it the features, the models and the lists.

The API's own files (``landing/*/api/``) already hold pseudonyms (it maps the caller's id) and are read as they
are. A line that does not parse keeps its text for the quarantine: the id in its ``"user_id": "..."`` is replaced
there too. Other producers' landing files keep the clear ids (forgetting a user looks for both forms).
"""

from __future__ import annotations

import hashlib

from vidrec.privacy import PSEUDONYM_PREFIX
from vidrec.settings import Settings

API_FOLDER = "/api/"
BLOCK = 64  # SHA-256's block size in bytes
RAW_USER_ID = r'"user_id"\s*:\s*"([^"\\]*)"'


def key_of(settings: Settings) -> str:
    """The key ingest pseudonymizes with ("" when pseudonymization is off)."""
    return settings.pseudonym_key if settings.pseudonymize else ""


def pseudonym_column(column, key: str):
    """The Spark column of ``vidrec.privacy.pseudonym(key, column)`` (null stays null)."""
    from pyspark.sql import functions as F

    k = key.encode()
    k = (hashlib.sha256(k).digest() if len(k) > BLOCK else k).ljust(BLOCK, b"\0")
    ipad, opad = bytes(b ^ 0x36 for b in k).hex(), bytes(b ^ 0x5C for b in k).hex()
    inner = F.sha2(F.concat(F.unhex(F.lit(ipad)), F.encode(column, "UTF-8")), 256)
    mac = F.sha2(F.concat(F.unhex(F.lit(opad)), F.unhex(inner)), 256)
    return F.concat(F.lit(PSEUDONYM_PREFIX), F.substring(mac, 1, 32))


def pseudonymized(df, key: str, *, source: str, corrupt: str):
    """``df`` (rows of landing files, ``source`` their path) with ``user_id`` pseudonymized, and the id in the
    text of unparseable lines (``corrupt``) too, except in the API's files."""
    from pyspark.sql import functions as F

    if not key or "user_id" not in df.columns:
        return df
    theirs = ~F.col(source).contains(API_FOLDER)
    clear = F.regexp_extract(F.col(corrupt), RAW_USER_ID, 1)
    hidden = F.replace(F.col(corrupt), clear, pseudonym_column(clear, key))
    user = F.when(theirs, pseudonym_column(F.col("user_id"), key)).otherwise(F.col("user_id"))
    return df.withColumn("user_id", user).withColumn(corrupt, F.when(theirs & (clear != ""), hidden)
                                                     .otherwise(F.col(corrupt)))
