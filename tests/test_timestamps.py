"""The per-request timestamps read as datetime.isoformat and logging's asctime, which they stand in for."""

from __future__ import annotations

import datetime as dt

import pytest

from gateway.timestamps import local_log, utc_iso

# Within one second, across a second and a day, the first and last millisecond, and back.
MOMENTS = [1_764_617_400.0, 1_764_617_400.0005, 1_764_617_400.999, 1_764_617_401.25,
           1_764_633_599.9996, 1_764_633_600.001, 1_764_617_400.5]


@pytest.mark.parametrize("moment", MOMENTS)
def test_utc_iso_is_isoformat_in_milliseconds(moment: float) -> None:
    """utc_iso() gives what datetime.isoformat(timespec="milliseconds") gives in UTC."""
    stamps = utc_iso()
    for at in (moment, moment + 0.001, moment):  # the cached second and a fresh one
        assert stamps.at(at) == dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="milliseconds")


@pytest.mark.parametrize("moment", MOMENTS)
def test_local_log_reads_as_loggings_asctime(moment: float) -> None:
    """local_log() gives logging's default asctime layout, in local time."""
    stamps = local_log()
    for at in (moment, moment + 0.001, moment):
        local = dt.datetime.fromtimestamp(at)
        assert stamps.at(at) == f"{local:%Y-%m-%d %H:%M:%S},{local.microsecond // 1000:03d}"
