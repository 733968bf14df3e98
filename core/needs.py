"""What a device is deployed for: its ``need``, one of three the platform serves.

The decoders declare it (``DecoderSpec.need``), the bridge writes it as the
``need`` tag (``storage.schema``), the API filters by it and the live feed
carries it. It lives in ``core`` because decoders and storage are sibling
layers that may not import each other, and both need it.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = ["NEEDS", "Need"]

Need = Literal["damp", "air_quality", "footfall"]
#: Every need, in the order they are documented.
NEEDS: Final[tuple[Need, ...]] = get_args(Need)
