"""Every vendor-published example decodes to the expected canonical values.

``vectors/device_vectors.json`` is the shared public set; ``vectors/extra/*.json``
holds further vendor examples (same record shape) found in the vendors' own docs.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from decoders import DecodeError, decode_uplink

VECTOR_DIR = Path(__file__).parent / "vectors"


def _load() -> list[dict[str, Any]]:
    records = json.loads((VECTOR_DIR / "device_vectors.json").read_text())["vectors"]
    for path in sorted((VECTOR_DIR / "extra").glob("*.json")):
        records.extend(json.loads(path.read_text()))
    return records


VECTORS = _load()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["vector_id"] for v in VECTORS])
def test_vendor_example(vector: dict[str, Any]) -> None:
    """``expected`` holds readings of any frame (history included); the optional
    ``expected_status``, ``expected_withheld``, ``expected_history`` (readings of each
    frame with its own time, in order) and ``expected_unknown`` ([offset, hex] pairs)
    check the rest of the ``DecodedUplink``."""
    payload = bytes.fromhex(vector["payload_hex"])
    if vector["expects_error"]:
        with pytest.raises(DecodeError) as caught:
            decode_uplink(vector["device_id"], vector["f_port"], payload)
        message = str(caught.value)
        assert vector["device_id"] in message and vector["payload_hex"] in message
        return
    checked = {"expected_status", "expected_withheld", "expected_history", "expected_unknown"}
    if not vector["expected"] and not checked & vector.keys():
        # Frames with no canonical value and nothing else pinned down: decoding may
        # refuse with a DecodeError, never crash.
        try:
            decode_uplink(vector["device_id"], vector["f_port"], payload)
        except DecodeError:
            pass
        return
    got = decode_uplink(vector["device_id"], vector["f_port"], payload)
    readings: dict[str, float] = {}
    for frame in got.frames:
        readings.update(frame.readings)
    name = vector["vector_id"]
    for key, want in vector["expected"].items():
        assert key in readings, f"{name}: {key} missing from {readings}"
        assert math.isclose(readings[key], want, rel_tol=1e-6, abs_tol=1e-9), (
            f"{name}: {key}={readings[key]}, vendor says {want}"
        )
    for key, want in vector.get("expected_status", {}).items():
        assert got.status.get(key) == want, f"{name}: status {key}={got.status.get(key)}"
    for key, want in vector.get("expected_withheld", {}).items():
        assert math.isclose(got.withheld[key], want), f"{name}: withheld {key}"
    if "expected_history" in vector:
        history = [f for f in got.frames if f.time_ns is not None or f.age_s is not None]
        assert len(history) == len(vector["expected_history"]), name
        for frame, want in zip(history, vector["expected_history"], strict=True):
            assert frame.readings == pytest.approx(want), name
    if "expected_unknown" in vector:
        assert [[u.offset, u.hex] for u in got.unknown] == vector["expected_unknown"], name


def test_every_public_device_has_vectors_checked() -> None:
    from decoders import supported_models

    keys = {m["model"] for m in supported_models()}
    missing = {v["device_id"] for v in VECTORS} - keys
    assert not missing, f"vectors for unregistered models: {sorted(missing)}"
