"""Plausible clinical covariates: the one definition for single patients and patient tables.

A value outside :data:`PLAUSIBLE` is impossible (a typo, a unit mix-up such as a height in
metres or a negative weight) and an :class:`~bio_mtl.errors.InputError` naming the value and,
for a table, the row. A plausible value outside the range a model was trained on is merely
unusual: the model warns about it per patient (``DosingModel.range_warnings``), in the
single-patient output and in the ``warnings`` column of a batch prediction alike.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

from ..errors import InputError

__all__ = ["PLAUSIBLE", "check_plausible", "check_plausible_column"]

#: ``{covariate: (lowest, highest, unit)}``: values outside are impossible. Bounds are wide on
#: purpose (the oldest documented human was 122; 1-400 kg and 30-260 cm cover neonates to the
#: heaviest and tallest adults recorded) so that no real patient is refused.
PLAUSIBLE = {"age": (0.0, 120.0, "years"), "weight_kg": (1.0, 400.0, "kg"),
             "height_cm": (30.0, 260.0, "cm")}


def check_plausible(name: str, value: float | None, *, label: str | None = None,
                    path: object = None, record: str | None = None) -> None:
    """Raise if ``value`` is outside :data:`PLAUSIBLE` (missing values pass).

    Parameters
    ----------
    name
        ``"age"`` (years), ``"weight_kg"`` or ``"height_cm"``.
    value
        The value (``None`` or NaN = missing).
    label
        How the value is named in the message (default ``name``; e.g. ``"--age"``).
    path, record
        The file and row, for the message.

    Raises
    ------
    InputError
        Naming the value, the plausible range and, for a height below 3, the likely cause.

    Examples
    --------
    >>> check_plausible("height_cm", 1.75)  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    bio_mtl.errors.InputError: height_cm 1.75 cm is not plausible (...; a height in metres? ...)
    """
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return
    lo, hi, unit = PLAUSIBLE[name]
    if lo <= value <= hi:
        return
    hint = ""
    if name == "height_cm" and 0 < value < 3:
        hint = "; a height in metres? give centimetres"
    raise InputError(f"{label or name} {value:g} {unit} is not plausible (expected "
                     f"{lo:g}-{hi:g} {unit}{hint})", path=path, record=record)


def check_plausible_column(name: str, values: Iterable[float], *, column: str | None = None,
                           path: object = None) -> None:
    """:func:`check_plausible` on every value of a table column (the error names the row).

    Parameters
    ----------
    name
        The covariate (a key of :data:`PLAUSIBLE`).
    values
        The column, in row order (row 1 is the first data row).
    column
        The column's name in the table, for the message (default ``name``).
    path
        The file, for the message.
    """
    for i, value in enumerate(values):
        check_plausible(name, None if value is None else float(value),
                        label=f"column {column or name!r}:", path=path, record=f"row {i + 1}")
