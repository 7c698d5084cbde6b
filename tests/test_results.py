"""Result types: a row made at once (:meth:`LayerResult.of`, as the schedule writes its rows)
is the row its dataclass makes field by field, as frozen, and as strict about its fields."""

from __future__ import annotations

import dataclasses

import pytest

from perfsim.results import LayerResult
from perfsim.simulate import simulate


def _fields(row: LayerResult) -> dict:
    return {f.name: getattr(row, f.name) for f in dataclasses.fields(LayerResult)}


def test_a_row_made_at_once_is_the_row_made_field_by_field():
    rows = simulate("googlenet", "hetero").layers
    assert {row.engine for row in rows} >= {"-", "mxu", "vpu"}  # views and both engines
    for row in rows:
        fields = _fields(row)
        assert LayerResult.of(dict(fields)) == LayerResult(**fields) == row
        # fields with defaults left out take them, as the dataclass's __init__ gives them
        given = {name: value for name, value in fields.items()
                 if name not in ("start_cycle", "local_bytes", "fused")}
        assert _fields(LayerResult.of(dict(given))) == _fields(LayerResult(**given))


def test_a_row_made_at_once_is_frozen_and_strict():
    fields = _fields(simulate("lenet5", "eyeriss").layers[1])
    row = LayerResult.of(dict(fields))
    with pytest.raises(dataclasses.FrozenInstanceError):
        row.total_cycles = 0  # type: ignore[misc]
    assert dataclasses.replace(row, total_cycles=1).total_cycles == 1
    assert row.total_cycles == fields["total_cycles"]
    with pytest.raises(TypeError, match=r"missing \['bound'\], unknown \[\]"):
        LayerResult.of({name: value for name, value in fields.items() if name != "bound"})
    with pytest.raises(TypeError, match=r"missing \[\], unknown \['cycles'\]"):
        LayerResult.of({**fields, "cycles": 1})
