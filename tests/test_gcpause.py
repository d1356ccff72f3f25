"""The collector pause shared by the MRT reader, the MRT ingest and the DuckDB points write."""

from __future__ import annotations

import gc

import pytest

from lightsout.gcpause import gc_paused


def test_nested_pauses_restore_the_collector_once_and_on_errors() -> None:
    assert gc.isenabled()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the inner pause found it off and leaves it off
    assert gc.isenabled()
    with pytest.raises(ValueError), gc_paused():
        raise ValueError("a read that fails half-way")
    assert gc.isenabled()


def test_a_collector_off_before_stays_off() -> None:
    gc.disable()
    try:
        with gc_paused():
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
