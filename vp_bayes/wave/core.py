"""The in-memory survey wave: the contract every later layer reads.

On disk a wave is a folder (see ``vp_bayes.wave.io`` and ``docs`` in ARCHITECTURE.md)::

    wave.json          manifest: name, instrument, scale, value source
    participants.csv   participant_id + demographic columns (any, categorical)
    instrument.csv     participant_id + raw answers q1..qK   (or)
    values.csv         participant_id + pre-scored trait columns (canonical names)
    items.csv          item_id + text fields + source
    ratings.csv        participant_id,item_id,rating

``.parquet`` files are accepted in place of any ``.csv``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd


@dataclass(frozen=True)
class Manifest:
    """What a wave declares about itself (``wave.json``).

    Attributes
    ----------
    name
        A short name for the wave.
    instrument
        ``"pvq_rr"``, ``"pvq21"`` or ``None`` when only pre-scored values are given.
    scale_min, scale_max
        The item-rating scale (1..6 for Value Portrait).
    values_centered
        For pre-scored values: whether they are MRAT-centred.
    value_level
        ``"values"`` (10 basic values) or ``"values19"`` (PVQ-RR refined values).
    description
        Free text: provenance of the wave.
    """

    name: str
    instrument: str | None = None
    scale_min: int = 1
    scale_max: int = 6
    values_centered: bool = True
    value_level: str = "values"
    description: str = ""

    def hash_text(self) -> str:
        """The manifest as the data hash reads it: a fixed text, whatever the field names.

        It is the dataclass ``repr`` of the first versions (which spelled the flag
        ``values_centred``), kept verbatim so that models fitted then still match their wave.
        """
        return (f"Manifest(name={self.name!r}, instrument={self.instrument!r}, "
                f"scale_min={self.scale_min!r}, scale_max={self.scale_max!r}, "
                f"values_centred={self.values_centered!r}, value_level={self.value_level!r}, "
                f"description={self.description!r})")

    @property
    def n_categories(self) -> int:
        """Number of rating categories."""
        return self.scale_max - self.scale_min + 1


@dataclass(frozen=True)
class Wave:
    """A validated survey wave.

    Attributes
    ----------
    manifest
        The wave's manifest.
    participants
        Indexed by ``participant_id`` (str); one column per demographic axis
        (categorical strings, missing = NaN). May have no columns.
    items
        Indexed by ``item_id`` (str); text columns (``query``, ``response``, ``title``)
        and ``source``.
    ratings
        Columns ``participant_id`` (str), ``item_id`` (str), ``rating`` (int, on the
        manifest scale). One row per rating.
    answers
        Raw instrument answers, indexed by ``participant_id``, columns ``q1..qK`` (float,
        NaN = missing), or ``None``.
    values
        Pre-scored traits, indexed by ``participant_id``, columns canonical trait names
        from :mod:`vp_bayes.dims` (values, and optionally Big Five / higher-order), or
        ``None``.
    source
        The folder it was loaded from, if any.
    """

    manifest: Manifest
    participants: pd.DataFrame
    items: pd.DataFrame
    ratings: pd.DataFrame
    answers: pd.DataFrame | None = None
    values: pd.DataFrame | None = None
    source: Path | None = field(default=None, compare=False)

    def summary(self) -> pd.DataFrame:
        """The wave's tables in brief: one row per table (mirt's ``summary``).

        Returns
        -------
        pandas.DataFrame
            Columns ``table, rows, columns`` for ``participants``, ``items``, ``ratings`` and
            ``instrument`` (raw answers) or ``values`` (pre-scored), as ``vp-bayes validate``
            prints them (:func:`vp_bayes.wave.io.summarize_wave` has the distributions too).
        """
        from vp_bayes.wave.io import summarize_wave

        return summarize_wave(self)["counts"]

    def data_hash(self) -> str:
        """SHA-256 of the wave's content (independent of file format and row order)."""
        h = hashlib.sha256()
        h.update(self.manifest.hash_text().encode())
        for name in ("participants", "items", "ratings", "answers", "values"):
            frame = getattr(self, name)
            h.update(name.encode())
            if frame is None:
                h.update(b"<none>")
                continue
            frame = frame.sort_index(axis=1)
            if name == "ratings":
                frame = frame.sort_values(["participant_id", "item_id"]).reset_index(drop=True)
            else:
                frame = frame.sort_index()
            h.update(pd.util.hash_pandas_object(frame, index=True).values.tobytes())
        return h.hexdigest()
