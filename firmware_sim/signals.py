"""Physically plausible readings as pure functions of (device traits, time).

Any instant can be simulated on its own (backfill months ago, or now), so the
time-varying part cannot come from a sequential random stream: it is a
counter-based hash (splitmix64) of the device key, a stream id and a time bucket,
interpolated into smooth value noise. The static part of a device (damp or dry
home, heating schedule, footfall scale, battery age…) is drawn once from the
device's own seeded ``np.random.Generator`` in :func:`draw_traits`.

Everything is vectorised over an array of POSIX times in seconds.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal, cast
from zoneinfo import ZoneInfo

import numpy as np

from decoders.spec import DecoderSpec, FieldSpec

Environment = Literal["home", "public_indoor", "outdoor"]
DampProfile = Literal["damp", "normal", "dry"]
FloatArray = np.ndarray

LONDON = ZoneInfo("Europe/London")
DAY = 86_400.0
HOUR = 3_600.0
#: Counters start counting here (2020-01-01 UTC); all cumulative state derives from it.
COUNTER_EPOCH_DAY = 18_262
RESET_PROBABILITY_PER_DAY = 1 / 120

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)


Signal = Callable[["Traits", FloatArray], np.ndarray]


@dataclass(frozen=True)
class Traits:
    """The static character of one simulated device, drawn from its seeded Generator."""

    key: int
    environment: Environment
    damp: DampProfile
    setpoint: float
    setback: float
    heating_start: float
    heating_end: float
    humidity_base: float
    footfall_daily: float
    dwell_hours: float
    peak_count: float
    traffic: float
    battery_installed: float
    battery_life_days: float
    counter_modulus: int | None


def draw_traits(
    rng: np.random.Generator,
    environment: Environment,
    counter_modulus: int | None = 65_536,
    damp: DampProfile | None = None,
) -> Traits:
    """One device's fixed parameters; ``damp`` is drawn for homes when not given."""
    if damp is None:
        if environment == "home":
            damp = cast(DampProfile, str(rng.choice(["damp", "normal", "normal", "dry"])))
        else:
            damp = "normal"
    cold = damp == "damp"
    setpoint = float(rng.uniform(16.5, 18.5) if cold else rng.uniform(19.0, 21.5))
    humidity_base = {"damp": 87.0, "normal": 52.0, "dry": 38.0}[damp] + float(rng.uniform(-3, 3))
    return Traits(
        key=int(rng.integers(1, 2**63)),
        environment=environment,
        damp=damp,
        setpoint=setpoint,
        setback=setpoint - float(rng.uniform(3.0, 5.0)),
        heating_start=float(rng.uniform(5.5, 7.5)),
        heating_end=float(rng.uniform(21.5, 23.5)),
        humidity_base=humidity_base,
        footfall_daily=float(rng.uniform(3_000, 45_000)),
        dwell_hours=float(rng.uniform(0.25, 1.5)),
        peak_count=float(rng.uniform(20, 250)),
        traffic=float(rng.uniform(0.6, 1.6)),
        battery_installed=float(rng.uniform(1.5e9, 1.75e9)),
        battery_life_days=float(rng.uniform(700, 1800)),
        counter_modulus=counter_modulus,
    )


# --- deterministic noise ---------------------------------------------------------------------


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finaliser: a well-spread 64-bit hash of each element."""
    with np.errstate(over="ignore"):
        z = x + _GOLDEN
        z = (z ^ (z >> np.uint64(30))) * _M1
        z = (z ^ (z >> np.uint64(27))) * _M2
        return z ^ (z >> np.uint64(31))


def hash_uniform(key: int, stream: int, k: np.ndarray) -> FloatArray:
    """Uniform [0, 1) for each integer bucket ``k``, fixed by (key, stream)."""
    buckets = np.asarray(k, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        salted = _mix(np.uint64(key) ^ _mix(np.uint64(stream) * _GOLDEN + buckets))
    return (salted >> np.uint64(11)).astype(np.float64) * (1.0 / 2**53)


def value_noise(key: int, stream: int, t: FloatArray, scale: float) -> FloatArray:
    """Smooth noise in [-1, 1] that changes on a time scale of ``scale`` seconds."""
    position = np.asarray(t, dtype=np.float64) / scale
    k = np.floor(position)
    frac = position - k
    smooth = frac * frac * (3 - 2 * frac)
    a = hash_uniform(key, stream, k) * 2 - 1
    b = hash_uniform(key, stream, k + 1) * 2 - 1
    return a + (b - a) * smooth


# --- local time --------------------------------------------------------------------------------


def local_clock(t: FloatArray) -> tuple[FloatArray, FloatArray, np.ndarray]:
    """Europe/London wall clock: (local POSIX-like seconds, hour of day, weekday Mon=0)."""
    t = np.asarray(t, dtype=np.float64)
    hours = np.floor(t / HOUR).astype(np.int64)
    unique, inverse = np.unique(hours, return_inverse=True)
    offsets = np.array(
        [
            datetime.fromtimestamp(int(h) * HOUR, UTC)
            .astimezone(LONDON)
            .utcoffset()
            .total_seconds()  # type: ignore[union-attr]
            for h in unique
        ]
    )
    local = t + offsets[inverse].reshape(t.shape)
    hour_of_day = np.mod(local, DAY) / HOUR
    weekday = (np.floor(local / DAY).astype(np.int64) + 3) % 7  # 1970-01-01 was a Thursday
    return local, hour_of_day, weekday


def _bump(hour: FloatArray, centre: float, width: float) -> FloatArray:
    return np.exp(-0.5 * ((hour - centre) / width) ** 2)


def _window(hour: FloatArray, start: float, end: float, edge: float = 0.4) -> FloatArray:
    """≈1 between start and end hours, smooth edges."""
    return (
        1 / (1 + np.exp(-(hour - start) / edge * 4)) * (1 / (1 + np.exp((hour - end) / edge * 4)))
    )


# --- climate -------------------------------------------------------------------------------


def outdoor_temperature(traits: Traits, t: FloatArray) -> FloatArray:
    """Leeds-like: 10 °C annual mean ± 6, afternoon peak, multi-day weather swings."""
    _, hour, _ = local_clock(t)
    day_of_year = np.mod(np.asarray(t) / DAY, 365.2425)
    seasonal = 10.0 - 6.0 * np.cos(2 * np.pi * (day_of_year - 20) / 365.2425)
    diurnal = 3.5 * np.cos(2 * np.pi * (hour - 15) / 24)
    weather = 3.0 * value_noise(traits.key & 0xFFFF, 1, t, 3 * DAY)  # shared across a town
    return seasonal + diurnal + weather + 0.3 * value_noise(traits.key, 2, t, HOUR)


def indoor_temperature(traits: Traits, t: FloatArray) -> FloatArray:
    """Heating on between the home's morning start and night end; drifts towards outdoors when off."""
    _, hour, weekday = local_clock(t)
    outdoor = outdoor_temperature(traits, t)
    if traits.environment == "public_indoor":
        heating = _window(hour, 7.0, 19.0, 0.8)
        off = np.maximum(traits.setback, 0.3 * outdoor + 12)
        return off + (20.0 - off) * heating + 0.3 * value_noise(traits.key, 3, t, HOUR)
    daytime_gap = _window(hour, 9.0, 16.5, 0.6) * (weekday < 5) * 0.6
    heating = np.clip(
        _window(hour, traits.heating_start, traits.heating_end, 0.8) - daytime_gap, 0, 1
    )
    off = np.maximum(traits.setback, 0.35 * outdoor + 0.65 * traits.setback)
    warm = np.maximum(outdoor, off + (traits.setpoint - off) * heating)
    return warm + 0.4 * value_noise(traits.key, 3, t, 2 * HOUR)


def temperature(traits: Traits, t: FloatArray) -> FloatArray:
    if traits.environment == "outdoor":
        return outdoor_temperature(traits, t)
    return indoor_temperature(traits, t)


def relative_humidity(traits: Traits, t: FloatArray) -> FloatArray:
    """Homes: showers in the morning and cooking in the evening; damp homes sit at 80–95 % for days."""
    _, hour, _ = local_clock(t)
    if traits.environment == "outdoor":
        rh = 78 + 12 * np.cos(2 * np.pi * (hour - 5) / 24) + 6 * value_noise(traits.key, 4, t, DAY)
        return np.clip(rh, 35, 99)
    shower = 18 * _bump(hour, traits.heating_start + 0.8, 0.35)
    cooking = 10 * _bump(hour, 18.5, 0.6)
    spells = value_noise(traits.key, 5, t, 3 * DAY)
    if traits.damp == "damp":
        rh = traits.humidity_base + 4 * spells + 0.3 * (shower + cooking)
        return np.clip(rh + 0.8 * value_noise(traits.key, 6, t, HOUR), 80, 95)
    if traits.environment == "public_indoor":
        shower = cooking = np.zeros_like(hour)
    rh = traits.humidity_base + 5 * spells + shower + cooking + value_noise(traits.key, 6, t, HOUR)
    return np.clip(rh, 25, 90)


def pressure(traits: Traits, t: FloatArray) -> FloatArray:
    return 1012 + 14 * value_noise(7, 7, t, 4 * DAY) + 0.5 * value_noise(traits.key, 7, t, HOUR)


def illuminance(traits: Traits, t: FloatArray) -> FloatArray:
    _, hour, _ = local_clock(t)
    daylight = np.clip(np.sin(np.pi * (hour - 6) / 13), 0, None)
    if traits.environment == "outdoor":
        return 20_000 * daylight * (0.6 + 0.4 * value_noise(traits.key, 8, t, 2 * HOUR))
    lamps = 250 * _window(hour, 17.5, 22.5, 0.3)
    return 300 * daylight * (0.7 + 0.3 * value_noise(traits.key, 8, t, 2 * HOUR)) + lamps


# --- occupancy, air quality --------------------------------------------------------------


def activity(traits: Traits, t: FloatArray) -> FloatArray:
    """0..1: how busy the place is (home occupants awake, or visitors in opening hours)."""
    _, hour, weekday = local_clock(t)
    if traits.environment == "home":
        morning = _window(hour, traits.heating_start, traits.heating_start + 2, 0.3)
        evening = _window(hour, 17.0, 23.0, 0.4)
        daytime = 0.4 * _window(hour, 9, 17, 0.5) * ((weekday >= 5) + 0.4)
        return np.clip(morning + evening + daytime, 0, 1)
    weights = _opening_weights(hour, weekday)
    return np.clip(weights * (0.85 + 0.15 * value_noise(traits.key, 9, t, HOUR)), 0, 1)


def co2(traits: Traits, t: FloatArray) -> FloatArray:
    if traits.environment == "outdoor":
        return 420 + 40 * traffic_level(traits, t) + 5 * value_noise(traits.key, 10, t, HOUR)
    _, hour, _ = local_clock(t)
    people = activity(traits, t)
    if traits.environment == "home":
        people = np.maximum(people, 0.8 * _window(np.mod(hour + 6, 24), 5.5, 13.0, 0.5))  # asleep
    ventilation = 1.6 if traits.damp == "damp" else 1.0
    indoor = 450 + 900 * ventilation * people + 30 * value_noise(traits.key, 10, t, HOUR)
    return np.maximum(indoor, 415.0)  # never below the outdoor background


def traffic_level(traits: Traits, t: FloatArray) -> FloatArray:
    """0..~1.5: rush hours on weekdays, a flatter weekend, quiet nights."""
    _, hour, weekday = local_clock(t)
    weekday_peaks = _bump(hour, 8.0, 1.0) + 0.9 * _bump(hour, 17.5, 1.2)
    day = 0.35 * _window(hour, 7, 20, 1.0)
    weekend = weekday >= 5
    return traits.traffic * (
        np.where(weekend, 0.3 * day + 0.2 * _bump(hour, 13, 3), weekday_peaks + day) + 0.08
    )


def pm2_5(traits: Traits, t: FloatArray) -> FloatArray:
    episode = np.clip(value_noise(11, 11, t, 4 * DAY), 0, None) * 25  # regional pollution episodes
    wiggle = 1 + 0.15 * value_noise(traits.key, 11, t, HOUR)
    return np.clip((6 + 14 * traffic_level(traits, t) + episode) * wiggle, 0.5, None)


def pm1_0(traits: Traits, t: FloatArray) -> FloatArray:
    return 0.7 * pm2_5(traits, t)


def pm10(traits: Traits, t: FloatArray) -> FloatArray:
    coarse = 5 + 6 * traffic_level(traits, t) * (1 + 0.3 * value_noise(traits.key, 12, t, HOUR))
    return pm2_5(traits, t) * 1.3 + coarse


def no2(traits: Traits, t: FloatArray) -> FloatArray:
    return np.clip(
        12 + 40 * traffic_level(traits, t) + 4 * value_noise(traits.key, 13, t, HOUR), 1, None
    )


def o3(traits: Traits, t: FloatArray) -> FloatArray:
    """Sunny afternoons make ozone; traffic NO titrates it away at rush hour."""
    _, hour, _ = local_clock(t)
    sun = np.clip(np.sin(np.pi * (hour - 6) / 14), 0, None)
    return np.clip(
        35
        + 35 * sun
        - 12 * traffic_level(traits, t)
        + 5 * value_noise(traits.key, 14, t, 3 * HOUR),
        2,
        None,
    )


def no(traits: Traits, t: FloatArray) -> FloatArray:
    return np.clip(
        2 + 30 * traffic_level(traits, t) + 2 * value_noise(traits.key, 17, t, HOUR), 0.5, None
    )


def co(traits: Traits, t: FloatArray) -> FloatArray:
    """Carbon monoxide, µg/m³: a few hundred in a city street, more at rush hour."""
    return 200 + 350 * traffic_level(traits, t) + 30 * value_noise(traits.key, 18, t, HOUR)


def so2(traits: Traits, t: FloatArray) -> FloatArray:
    return np.clip(3 + 2 * value_noise(traits.key, 19, t, 6 * HOUR), 0.5, None)


def hcho(traits: Traits, t: FloatArray) -> FloatArray:
    """Formaldehyde, µg/m³: indoor furnishing emissions, a little higher when people cook."""
    return 15 + 20 * activity(traits, t) + 3 * value_noise(traits.key, 25, t, 3 * HOUR)


def _trace(background: float, stream: int) -> Signal:
    """A gas present only at trace level (µg/m³), drifting slowly."""

    def signal(traits: Traits, t: FloatArray) -> FloatArray:
        return background * (1 + 0.5 * value_noise(traits.key, stream, t, 6 * HOUR))

    return signal


def tvoc(traits: Traits, t: FloatArray) -> FloatArray:
    """Relative 0..1 level (cooking, cleaning, traffic); scaled into the model's own unit later."""
    base = 0.15 + 0.35 * activity(traits, t) + 0.1 * value_noise(traits.key, 15, t, 2 * HOUR)
    if traits.environment == "outdoor":
        base = 0.1 + 0.2 * traffic_level(traits, t)
    return np.clip(base, 0.02, 0.95)


def sound_level(traits: Traits, t: FloatArray) -> FloatArray:
    busy = traffic_level(traits, t) if traits.environment == "outdoor" else activity(traits, t)
    return 32 + 30 * np.clip(busy, 0, 1.2) + 2 * value_noise(traits.key, 16, t, HOUR)


# --- footfall ----------------------------------------------------------------------------

_WEEKDAY_HOURS = np.array(
    [1, 0.5, 0.3, 0.3, 0.5, 1.5, 4, 9, 14, 18, 22, 27, 33, 31, 26, 24, 25, 27, 20, 12, 9, 7, 5, 2.5]
)
_SATURDAY_HOURS = np.array(
    [3, 1.5, 1, 0.5, 0.5, 0.8, 1.5, 3, 7, 14, 26, 34, 38, 38, 36, 33, 28, 20, 13, 10, 9, 8, 7, 5]
)
_SUNDAY_HOURS = np.array(
    [4, 2, 1, 0.5, 0.5, 0.5, 0.8, 1.5, 3, 6, 13, 22, 26, 27, 25, 22, 17, 9, 5, 3, 2.5, 2, 1.5, 1]
)
_PROFILES = np.stack([_WEEKDAY_HOURS, _SATURDAY_HOURS, _SUNDAY_HOURS])
_CDF = np.concatenate([np.zeros((3, 1)), np.cumsum(_PROFILES, axis=1)], axis=1)
_CDF /= _CDF[:, -1:]
_DAY_SHARE = _PROFILES.sum(axis=1) / _WEEKDAY_HOURS.sum()


def _day_type(weekday: np.ndarray) -> np.ndarray:
    return np.where(weekday == 5, 1, np.where(weekday == 6, 2, 0))


def _opening_weights(hour: FloatArray, weekday: np.ndarray) -> FloatArray:
    profile = _PROFILES[_day_type(weekday), np.floor(hour).astype(np.int64) % 24]
    return profile / _PROFILES.max()


def _day_cdf(day_type: np.ndarray, hour: FloatArray) -> FloatArray:
    """Share of a day's visitors that passed by this local hour (piecewise linear)."""
    hour = np.clip(hour, 0, 24)
    whole = np.minimum(np.floor(hour).astype(np.int64), 23)
    frac = hour - whole
    low = _CDF[day_type, whole]
    return low + (_CDF[day_type, whole + 1] - low) * frac


def _daily_totals(traits: Traits, days: np.ndarray) -> FloatArray:
    weekday = (days + 3) % 7
    noise = 1 + 0.2 * (hash_uniform(traits.key, 20, days) * 2 - 1)
    return np.round(traits.footfall_daily * _DAY_SHARE[_day_type(weekday)] * noise)


def cumulative_count(traits: Traits, t: FloatArray, lag_hours: float = 0.0) -> np.ndarray:
    """People counted since the last device reset, as the device's counter holds it (wraps).

    Each local day has a total (site scale × weekday share × noise) spread over the
    day by the opening-hours profile; ``lag_hours`` delays the spread (exits follow
    entries by the dwell time). A reset (power loss, reboot) happens on about one
    day in 120 at a random hour and restarts the count at 0. The result is an
    integer counter modulo ``traits.counter_modulus`` when set.
    """
    local, _, _ = local_clock(t)
    day = np.floor(local / DAY).astype(np.int64)
    hour = (local - day * DAY) / HOUR
    first = COUNTER_EPOCH_DAY
    day = np.maximum(day, first)
    all_days = np.arange(first, int(day.max()) + 1)
    totals = _daily_totals(traits, all_days)
    types = _day_type((all_days + 3) % 7)
    before = np.concatenate([[0.0], np.cumsum(totals)])  # before[i]: sum of days first..first+i-1

    is_reset = hash_uniform(traits.key, 21, all_days) < RESET_PROBABILITY_PER_DAY
    reset_days = np.concatenate([[first], all_days[is_reset]])  # counting began at install
    reset_hours = np.concatenate([[0.0], 1 + 22 * hash_uniform(traits.key, 22, reset_days[1:])])

    idx = np.searchsorted(reset_days, day, side="right") - 1
    later_today = (reset_days[idx] == day) & (reset_hours[idx] > hour)
    idx = np.where(later_today, idx - 1, idx)
    r_day, r_hour = reset_days[idx], reset_hours[idx]

    i_now = day - first
    i_reset = r_day - first
    now_share = _day_cdf(types[i_now], hour - lag_hours)
    reset_share = _day_cdf(types[i_reset], r_hour - lag_hours)
    since_reset_day = before[i_now] - before[i_reset] + totals[i_now] * now_share
    count = since_reset_day - totals[i_reset] * reset_share
    counter = np.floor(np.maximum(count, 0)).astype(np.int64)
    if traits.counter_modulus:
        counter %= traits.counter_modulus
    return counter


def people_in(traits: Traits, t: FloatArray) -> np.ndarray:
    return cumulative_count(traits, t)


def people_out(traits: Traits, t: FloatArray) -> np.ndarray:
    return cumulative_count(traits, t, lag_hours=traits.dwell_hours)


def people_count(traits: Traits, t: FloatArray) -> FloatArray:
    """People present (or phones seen) now: the opening-hours level of the site."""
    return np.round(
        traits.peak_count * activity(traits, t) + 2 * np.abs(value_noise(traits.key, 23, t, 600))
    )


def motion(traits: Traits, t: FloatArray) -> FloatArray:
    """PIR triggers during the last reporting period."""
    jitter = hash_uniform(traits.key, 24, np.floor(np.asarray(t) / 60))
    return np.floor(40 * activity(traits, t) * (0.5 + jitter))


# --- battery --------------------------------------------------------------------------------


def battery_fraction(traits: Traits, t: FloatArray) -> FloatArray:
    """1 = fresh; falls linearly over the battery's life, then the battery is replaced."""
    age_days = (np.asarray(t, dtype=np.float64) - traits.battery_installed) / DAY
    return 1 - np.mod(age_days, traits.battery_life_days) / traits.battery_life_days


def battery_voltage(traits: Traits, t: FloatArray) -> FloatArray:
    return 3.0 + 0.6 * battery_fraction(traits, t) ** 0.5


def battery_percent(traits: Traits, t: FloatArray) -> FloatArray:
    return np.round(100 * battery_fraction(traits, t))


SIGNALS: Mapping[str, Signal] = {
    "temperature": temperature,
    "relative_humidity": relative_humidity,
    "pressure": pressure,
    "illuminance": illuminance,
    "sound_level": sound_level,
    "co2": co2,
    "tvoc": tvoc,
    "pm1_0": pm1_0,
    "pm2_5": pm2_5,
    "pm4_0": lambda traits, t: 0.5 * (pm2_5(traits, t) + pm10(traits, t)),
    "pm10": pm10,
    "no2": no2,
    "o3": o3,
    "no": no,
    "co": co,
    "so2": so2,
    "hcho": hcho,
    "nh3": _trace(6.0, 27),
    "h2s": _trace(1.0, 28),
    "cl2": _trace(0.3, 29),
    "people_in": people_in,
    "people_out": people_out,
    "people_count": people_count,
    "motion": motion,
    "battery_voltage": battery_voltage,
    "battery_percent": battery_percent,
}

#: Quantities whose relative 0..1 signal is mapped into the model's own unit.
RELATIVE = frozenset({"tvoc"})
#: Gases simulated in µg/m³, with molar masses (g/mol) to convert to ppb/ppm at 25 °C.
MOLAR_MASS = {
    "no2": 46.01,
    "o3": 48.00,
    "no": 30.01,
    "co": 28.01,
    "so2": 64.07,
    "hcho": 30.03,
    "nh3": 17.03,
    "h2s": 34.08,
    "cl2": 70.90,
}
#: Fields that are another name for a simulated quantity.
ALIASES = {
    "board_temperature": "temperature",
    "external_temperature": "temperature",
    "noise": "sound_level",
}
COUNTERS = frozenset({"people_in", "people_out"})


def counter_modulus(spec: DecoderSpec) -> int | None:
    """Counter width implied by the declared maximum (65535 -> 16-bit), None if not a 2^n-1."""
    widths = [
        int(f.maximum) + 1
        for f in spec.fields
        if f.name in COUNTERS and f.maximum >= 255 and (int(f.maximum) + 1) & int(f.maximum) == 0
    ]
    return min(widths) if widths else None


def _is_whole(spec: FieldSpec) -> bool:
    """Counts, codes and flags (small ranges this module has no model of) take whole numbers."""
    small = spec.maximum - spec.minimum <= 3 and spec.name not in SIGNALS
    return spec.unit in WHOLE_UNITS or spec.name in COUNTERS or small


def _fit(spec: FieldSpec, values: np.ndarray) -> np.ndarray:
    """Clip into the declared range; counts, codes and flags become whole numbers."""
    if _is_whole(spec):
        values = np.round(values)
    return np.clip(values, spec.minimum, spec.maximum)


#: Units of fields that only take whole numbers (counts, status codes, indices).
WHOLE_UNITS = frozenset({"count", "code", "index", "bytes", "0/1 or count", "min", "s"})


def _relative(traits: Traits, name: str, t: FloatArray) -> FloatArray:
    """0..1 level for vendor-unit quantities and for fields this module has no model of."""
    if name in SIGNALS:
        return SIGNALS[name](traits, t)
    return 0.4 + 0.2 * value_noise(traits.key, zlib.crc32(name.encode()), t, 6 * HOUR)


def _gas(unit: str, micrograms: FloatArray, molar_mass: float) -> FloatArray:
    """µg/m³ into the unit a device reports (ppb, ppm, mg/m³); unknown units get µg/m³."""
    ppb = micrograms * 24.45 / molar_mass
    return {"ppb": ppb, "ppm": ppb / 1000, "mg/m3": micrograms / 1000}.get(unit, micrograms)


def _tvoc(unit: str, level: FloatArray, field: FieldSpec) -> FloatArray:
    """The relative TVOC level in the device's unit (ppb, ppm, µg/m³ or IAQ index × 100)."""
    if unit == "ppb":
        return 60 + 600 * level
    if unit == "ppm":
        return 0.06 + 0.6 * level
    if unit in ("ug/m3", "µg/m3"):
        return 150 + 1500 * level
    if "IAQ index x 100" in unit:
        return 100 * (25 + 200 * level)
    return field.minimum + min(field.maximum - field.minimum, 1000.0) * level


def _field_values(traits: Traits, field: FieldSpec, t: FloatArray) -> FloatArray:
    span = field.maximum - field.minimum
    if field.name in MOLAR_MASS:
        return _gas(field.unit, SIGNALS[field.name](traits, t), MOLAR_MASS[field.name])
    if field.name == "tvoc":
        return _tvoc(field.unit, tvoc(traits, t), field)
    if field.name in ALIASES:
        return SIGNALS[ALIASES[field.name]](traits, t)
    if field.name == "iaq":
        return 25 + 200 * tvoc(traits, t)
    if field.name == "wind_speed":
        return 4 + 3 * value_noise(traits.key, 26, t, 3 * HOUR)
    if field.name == "occupancy":
        level = activity(traits, t)
        return (level > 0.3).astype(np.float64) if field.maximum <= 1 else traits.peak_count * level
    if field.name == "occupancy_state":  # Elsys: 0 free, 1 entering/leaving, 2 occupied
        return 2.0 * (activity(traits, t) > 0.3)
    if field.name == "minutes_since_motion":
        return np.where(activity(traits, t) > 0.3, 0.0, 30 + 60 * (1 - activity(traits, t)))
    if field.name in SIGNALS and field.name not in RELATIVE:
        return SIGNALS[field.name](traits, t)
    if field.unit == "count":  # per-region or per-period counts follow the site's busyness
        return min(span, traits.peak_count) * activity(traits, t)
    if span <= 3:  # flags and small status codes: the healthy state
        return np.full_like(t, field.minimum)
    return field.minimum + min(span, 1000.0) * _relative(traits, field.name, t)


def readings(traits: Traits, spec: DecoderSpec, t: FloatArray) -> dict[str, np.ndarray]:
    """Every field the model declares, evaluated at times ``t``, inside its declared range.

    Fields the decoder derives from others (Paxcounter's total of Wi-Fi and BLE
    devices) are made consistent so that encoding and decoding agree.
    """
    t = np.atleast_1d(np.asarray(t, dtype=np.float64))
    out: dict[str, np.ndarray] = {}
    for field in spec.fields:
        out[field.name] = _fit(field, np.asarray(_field_values(traits, field, t), dtype=np.float64))
    if {"wifi_devices", "ble_devices", "people_count"} <= out.keys():
        out["wifi_devices"] = np.round(0.6 * out["people_count"])
        out["ble_devices"] = out["people_count"] - out["wifi_devices"]
    return out
