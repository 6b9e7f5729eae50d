"""Compare xarray Datasets by their data, not by library object identity.

``Dataset.identical`` also compares dtypes of string coordinates, attribute types and
encodings, which change between xarray / pandas / numpy releases (xarray 2026.9 with pandas 3
reads netCDF3 strings back with another dtype) although every number and label is the same.
"""

from __future__ import annotations

import numpy as np
import xarray as xr


def _labels(a: xr.DataArray) -> np.ndarray:
    values = np.asarray(a.values)
    return values.astype(str) if values.dtype.kind in "OSUT" else values


def assert_same_data(a: xr.Dataset, b: xr.Dataset, *, rtol: float = 0.0) -> None:
    """Same variables, dimensions, coordinate labels, values and attributes.

    Values are compared exactly unless ``rtol`` is given: floating-point values then may differ
    by that relative amount (and by that much absolutely near zero; labels and integers stay
    exact). Data made on another machine needs it: OpenBLAS picks its matrix-product kernel by
    CPU (SkylakeX, Zen, ...), and the kernels round differently in the last bits.
    """
    assert sorted(a.data_vars) == sorted(b.data_vars), "data variables differ"
    assert dict(a.sizes) == dict(b.sizes), "dimension sizes differ"
    assert sorted(a.coords) == sorted(b.coords), "coordinates differ"
    for name in a.coords:
        np.testing.assert_array_equal(_labels(a[name]), _labels(b[name]), err_msg=name)
    for name in a.data_vars:
        assert a[name].dims == b[name].dims, f"{name}: dims differ"
        x, y = _labels(a[name]), _labels(b[name])
        if rtol and x.dtype.kind == "f":
            np.testing.assert_allclose(x, y, rtol=rtol, atol=rtol, err_msg=name)
        else:
            np.testing.assert_array_equal(x, y, err_msg=name)
    assert {k: str(v) for k, v in a.attrs.items()} == {k: str(v) for k, v in b.attrs.items()}


def same_data(a: xr.Dataset, b: xr.Dataset) -> bool:
    """True when :func:`assert_same_data` passes."""
    try:
        assert_same_data(a, b)
    except AssertionError:
        return False
    return True
