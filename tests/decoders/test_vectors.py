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

from decoders import DecodeError, decode

VECTOR_DIR = Path(__file__).parent / "vectors"


def _load() -> list[dict[str, Any]]:
    records = json.loads((VECTOR_DIR / "device_vectors.json").read_text())["vectors"]
    for path in sorted((VECTOR_DIR / "extra").glob("*.json")):
        records.extend(json.loads(path.read_text()))
    return records


VECTORS = _load()


@pytest.mark.parametrize("vector", VECTORS, ids=[v["vector_id"] for v in VECTORS])
def test_vendor_example(vector: dict[str, Any]) -> None:
    payload = bytes.fromhex(vector["payload_hex"])
    if vector["expects_error"]:
        with pytest.raises(DecodeError) as caught:
            decode(vector["device_id"], vector["f_port"], payload)
        message = str(caught.value)
        assert vector["device_id"] in message and vector["payload_hex"] in message
        return
    expected: dict[str, float] = vector["expected"]
    if not expected:
        # Frames with no canonical value (configuration replies, status-only frames):
        # decoding may return other fields or refuse with a DecodeError, never crash.
        try:
            decode(vector["device_id"], vector["f_port"], payload)
        except DecodeError:
            pass
        return
    got = decode(vector["device_id"], vector["f_port"], payload)
    for key, want in expected.items():
        assert key in got, f"{vector['vector_id']}: {key} missing from {got}"
        assert math.isclose(got[key], want, rel_tol=1e-6, abs_tol=1e-9), (
            f"{vector['vector_id']}: {key}={got[key]}, vendor says {want}"
        )


def test_every_public_device_has_vectors_checked() -> None:
    from decoders import supported_models

    keys = {m["model"] for m in supported_models()}
    missing = {v["device_id"] for v in VECTORS} - keys
    assert not missing, f"vectors for unregistered models: {sorted(missing)}"
