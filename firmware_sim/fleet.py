"""A deterministic fleet of simulated devices placed around Leeds.

Device *i* of a fleet takes the *i*-th model round-robin over the models that
have both a decoder spec and an encoder, and draws everything else (EUI, site,
ward, traits) from its own ``np.random.Generator`` seeded with ``(seed, i)``, so
adding devices never changes the ones already there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import numpy as np

from decoders.registry import SPECS
from decoders.spec import DecoderSpec
from firmware_sim.encoders import ENCODERS
from firmware_sim.signals import Traits, counter_modulus, draw_traits

HOME_WARDS = (
    "Armley",
    "Headingley",
    "Harehills",
    "Beeston",
    "Chapeltown",
    "Kirkstall",
    "Hunslet",
    "Burmantofts",
)

#: Public places with indoor climate (for the public share of damp-need sensors).
PUBLIC_INDOOR_SITES: dict[str, tuple[str, float, float]] = {
    "central-library": ("Little London & Woodhouse", 53.8003, -1.5489),
    "leeds-station-concourse": ("Hunslet & Riverside", 53.7953, -1.5476),
    "kirkgate-market-hall": ("Little London & Woodhouse", 53.7969, -1.5397),
    "headingley-library": ("Headingley & Hyde Park", 53.8196, -1.5777),
    "armley-leisure-centre": ("Armley", 53.7985, -1.5890),
}

#: Streets and squares for air-quality and footfall sensors.
PUBLIC_SITES: dict[str, tuple[str, float, float]] = {
    "briggate": ("Little London & Woodhouse", 53.7975, -1.5425),
    "the-headrow": ("Little London & Woodhouse", 53.7996, -1.5446),
    "kirkgate-market": ("Little London & Woodhouse", 53.7969, -1.5397),
    "leeds-station": ("Hunslet & Riverside", 53.7953, -1.5476),
    "park-row": ("Little London & Woodhouse", 53.7978, -1.5468),
    "millennium-square": ("Little London & Woodhouse", 53.8014, -1.5480),
    "woodhouse-moor": ("Hyde Park & Woodhouse", 53.8130, -1.5620),
    "kirkstall-road": ("Kirkstall", 53.8040, -1.5790),
}

PUBLIC_SHARE_OF_DAMP = 0.2
UNKNOWN_MODEL = "acme-mystery-sensor"


@dataclass(frozen=True)
class Gateway:
    gateway_id: str
    rssi: float
    snr: float


@dataclass(frozen=True)
class Device:
    """One simulated end device; ``spec`` is None for a device of an unknown model."""

    index: int
    dev_eui: str
    dev_addr: str
    model: str
    site: str
    privacy: str
    ward: str
    interval: float
    offset: float
    f_cnt_start: int
    spreading_factor: int
    frequency: int
    gateways: tuple[Gateway, ...]
    traits: Traits
    spec: DecoderSpec | None = field(default=None, repr=False, compare=False)
    lat: float | None = None
    lon: float | None = None

    @property
    def tags(self) -> dict[str, str]:
        return {"model": self.model, "site": self.site, "privacy": self.privacy, "ward": self.ward}

    def registry_row(self) -> dict[str, object]:
        """This device as a row of the device registry file (coordinates for public devices only)."""
        row: dict[str, object] = {
            "dev_eui": self.dev_eui,
            "model": self.model,
            "site": self.site,
            "privacy": self.privacy,
            "ward": self.ward,
        }
        if self.privacy == "public" and self.lat is not None:
            row |= {"lat": self.lat, "lon": self.lon}
        return row


def available_models() -> list[DecoderSpec]:
    """Models the simulator can send: a decoder spec and an encoder, in registry order."""
    return [spec for spec in SPECS if spec.key in ENCODERS]


EU868_FREQUENCIES = (
    868_100_000,
    868_300_000,
    868_500_000,
    867_100_000,
    867_300_000,
    867_500_000,
    867_700_000,
    867_900_000,
)


def gateway_ids(seed: int, count: int = 6) -> list[str]:
    rng = np.random.default_rng([seed, 0x6A7E])
    return [rng.bytes(8).hex() for _ in range(count)]


def _unique_eui(rng: np.random.Generator, taken: set[str]) -> str:
    while True:
        eui = bytes([0x70, 0xB3]) + rng.bytes(6)  # a fixed OUI-ish prefix makes them easy to spot
        text = eui.hex()
        if text not in taken:
            taken.add(text)
            return text


def _make_device(
    seed: int,
    index: int,
    spec: DecoderSpec | None,
    interval: float,
    taken: set[str],
    gateways: list[str],
    counter_bits: int | None,
) -> Device:
    rng = np.random.default_rng([seed, index])
    dev_eui = _unique_eui(rng, taken)
    need = spec.need if spec else "damp"
    lat = lon = None
    if spec is not None and need == "damp" and rng.random() >= PUBLIC_SHARE_OF_DAMP:
        privacy, environment = "home", "home"
        site = f"home-{int(rng.integers(0, 10_000)):04d}"
        ward = str(rng.choice(HOME_WARDS))
    else:
        sites = PUBLIC_INDOOR_SITES if need == "damp" else PUBLIC_SITES
        environment = "public_indoor" if need == "damp" else "outdoor"
        site = str(rng.choice(sorted(sites)))
        ward, lat, lon = sites[site]
        privacy = "public"
    modulus = (1 << counter_bits) if counter_bits else (counter_modulus(spec) if spec else None)
    traits = draw_traits(rng, environment, modulus)  # type: ignore[arg-type]
    heard_by = rng.choice(len(gateways), size=int(rng.integers(1, 4)), replace=False)
    links = tuple(
        Gateway(gateways[int(g)], float(rng.uniform(-118, -70)), float(rng.uniform(-12, 10)))
        for g in heard_by
    )
    return Device(
        index=index,
        dev_eui=dev_eui,
        dev_addr=rng.bytes(4).hex(),
        model=spec.key if spec else UNKNOWN_MODEL,
        site=site,
        privacy=privacy,
        ward=ward,
        interval=interval,
        offset=float(rng.uniform(0, interval)),
        f_cnt_start=int(rng.integers(0, 20_000)),
        spreading_factor=int(rng.integers(7, 13)),
        frequency=int(rng.choice(EU868_FREQUENCIES)),
        gateways=links,
        traits=traits,
        spec=spec,
        lat=lat,
        lon=lon,
    )


def build_fleet(
    seed: int,
    count: int,
    interval: float = 600.0,
    unknown: int = 0,
    models: Iterable[DecoderSpec] | None = None,
    counter_bits: int | None = None,
) -> tuple[list[Device], list[Device]]:
    """``count`` devices round-robin over ``models`` (default: all available) + ``unknown`` others.

    ``counter_bits`` overrides the counter width that each model's declared
    maximum implies (16-bit people counters wrap at 65536).
    """
    specs = list(models) if models is not None else available_models()
    if count and not specs:
        raise ValueError("no device model has both a decoder and an encoder yet")
    gateways = gateway_ids(seed)
    taken: set[str] = set()
    known = [
        _make_device(seed, i, specs[i % len(specs)], interval, taken, gateways, counter_bits)
        for i in range(count)
    ]
    others = [
        _make_device(seed, count + j, None, interval, taken, gateways, counter_bits)
        for j in range(unknown)
    ]
    return known, others
