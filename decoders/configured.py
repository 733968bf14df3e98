"""Models declared by configuration: a directory of model files, each with its codec.

A model file (``<key>.yaml``) declares a model key, its vendor, model name and
need, where it is decoded, and a field map (see ``decoders.fieldmap``)::

    key: acme-th1                  # the device registry's model key
    vendor: Acme
    model: TH-1
    need: damp                     # damp | air_quality | footfall
    decoded: codec                 # codec (default) | upstream
    codec: acme-th1.js             # beside this file; or uplinkDecoder: {fileName, examples}
    f_ports: [1, 2]                # optional, default 1–223
    doc_url: https://…             # the vendor's payload documentation
    variables: {}                  # optional codec variables (input.variables)
    fields:                        # optional when the codec has normalizeUplink
      TempC_SHT: temperature                          # canonical quantity, canonical unit
      sensors[0].temp_f: {quantity: temperature, unit: degF}
      BatV: {quantity: battery_voltage, range: [2.0, 3.7]}
      signal.level: {quantity: signal_level, unit: dB, range: [0, 100]}  # extra field
    examples:                      # Device Repository form, run at load
      - description: a normal report
        input: {fPort: 2, bytes: [0x0B, 0x4A, …]}
        output: {data: {…}, warnings: [], errors: []}
        readings: {temperature: 23.4}                 # optional: canonical readings
      # upstream models: {object: {…}, readings: {…}}

Privacy is not part of a model: it comes from the device registry. A model
key may not shadow a native decoder's.

``ModelCatalog`` loads a directory at start (``ConfigError`` naming the file,
and the example, that is wrong) and re-reads it when a file in it changes,
keeping the last good catalog if an edit breaks it (as
``storage.devices.DeviceRegistry`` does). ``install`` makes one catalog the
one ``decoders.get_spec`` falls back to.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Literal

import yaml

from core import yamlfile
from core.errors import CodecError, ConfigError, DecodeError
from core.needs import NEEDS, Need
from core.quantities import CANONICAL_UNITS
from decoders import _checked
from decoders.codec import Codec, CodecOutput, Limits
from decoders.fieldmap import (
    DEFAULT_RANGES,
    FieldMapping,
    map_normalized,
    map_object,
    mapping_for,
)
from decoders.registry import SPECS
from decoders.spec import Counter, DecodedUplink, DecoderSpec, FieldSpec

__all__ = [
    "ConfiguredModel",
    "ModelCatalog",
    "active",
    "check_examples",
    "configured_spec",
    "install",
    "load_model",
    "readings_from_object",
]

log = logging.getLogger(__name__)

Decoded = Literal["codec", "upstream"]
_KEYS = {
    "key", "vendor", "model", "need", "decoded", "codec", "uplinkDecoder", "f_ports",
    "doc_url", "variables", "fields", "examples", "limits",
}  # fmt: skip
_VENDOR_UNIT = "vendor unit"
_ALL_PORTS = frozenset(range(1, 224))
_TOLERANCE = 1e-6
#: Largest model file read: real ones are a few KiB; this bounds what a parser is given.
MAX_MODEL_FILE_BYTES = 1024 * 1024


def _read_yaml(path: Path) -> Any:
    """A model file's document; ``ConfigError`` naming the file when too big, aliased or invalid."""
    try:
        with path.open("rb") as handle:
            raw = handle.read(MAX_MODEL_FILE_BYTES + 1)
        if len(raw) > MAX_MODEL_FILE_BYTES:
            raise ConfigError(f"{path}: model file is larger than {MAX_MODEL_FILE_BYTES} bytes")
        return yamlfile.load(raw.decode("utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        raise ConfigError(f"{path}: cannot read model file: {exc}") from None


@dataclass(frozen=True)
class ConfiguredModel:
    """One model file, loaded: its spec, its codec (None when decoded upstream) and its map."""

    spec: DecoderSpec
    decoded: Decoded
    path: Path
    mappings: tuple[FieldMapping, ...]
    codec: Codec | None = field(default=None, repr=False)
    variables: Mapping[str, str] = field(default_factory=dict)
    examples: tuple[Mapping[str, Any], ...] = ()

    @property
    def key(self) -> str:
        return self.spec.key

    @property
    def upstream_object(self) -> str:
        """Which decoded object an upstream model reads: ``decoded`` (ChirpStack ``object``,
        TTS ``decoded_payload``) when it has a field map, else ``normalized``
        (TTS ``normalized_payload``)."""
        return "decoded" if self.mappings else "normalized"

    def run_codec(
        self, f_port: int, payload: bytes, recv_time_ns: int | None = None
    ) -> CodecOutput:
        """The codec's own output for one uplink; ``CodecError`` if it fails."""
        if self.codec is None:
            raise DecodeError("model is decoded upstream: readings come from the event's object")
        recv_ms = (time.time_ns() if recv_time_ns is None else recv_time_ns) // 1_000_000
        return self.codec.decode(f_port, payload, recv_ms, self.variables)

    def map_output(self, output: CodecOutput) -> DecodedUplink:
        """The codec's output through the field map, or its normalized payload when it has no map."""
        if self.mappings:
            return map_object(output.data, self.mappings, output.warnings)
        return map_normalized(output.normalized, output.warnings)

    def checked(self, decoded: DecodedUplink) -> DecodedUplink:
        """``decoders.decode_uplink``'s check: undeclared or non-number fields are a
        ``DecodeError``; out-of-range values move to ``Frame.withheld``."""
        return _checked(self.spec, decoded)

    def decode(self, f_port: int, payload: bytes, recv_time_ns: int | None = None) -> DecodedUplink:
        """Unchecked readings of one uplink (``decoders.decode_uplink`` range-checks them).

        ``recv_time_ns`` is the uplink's time (``input.recvTime``); now if None.
        """
        return self.map_output(self.run_codec(f_port, payload, recv_time_ns))

    def decode_uplink(self, f_port: int, payload: bytes, recv_time_ns: int) -> DecodedUplink:
        """Checked readings at the event's own time, as ``decoders.decode_uplink`` gives them.

        The bridge should call this rather than ``decoders.decode_uplink`` for a
        configured model so that ``input.recvTime`` is the uplink's time, not now.
        """
        if f_port not in self.spec.f_ports:
            raise DecodeError(f"fPort not used by this model (expects {sorted(self.spec.f_ports)})")
        try:
            return _checked(self.spec, self.decode(f_port, payload, recv_time_ns))
        except DecodeError as exc:
            raise exc.with_context(self.key, f_port, bytes(payload)) from None


def readings_from_object(model: ConfiguredModel, obj: Any) -> DecodedUplink:
    """Checked readings from an object the network server already decoded.

    ``obj`` is ChirpStack's ``object`` or The Things Stack's ``decoded_payload``
    for a model with a field map, or TTS's ``normalized_payload`` for one
    without (``model.upstream_object`` says which). Never raises for a missing
    or odd object: no object gives no frames; wrong types are withheld.
    """
    if model.mappings:
        decoded = map_object(obj, model.mappings)
    else:
        decoded = map_normalized(obj)
    return _checked(model.spec, decoded)


def _upstream_decode(f_port: int, payload: bytes) -> DecodedUplink:
    raise DecodeError("model is decoded upstream: readings come from the event's decoded object")


# --- loading -----------------------------------------------------------------------------------


def _field(path: str, entry: Any, where: str) -> tuple[FieldMapping, FieldSpec]:
    if isinstance(entry, str):
        entry = {"quantity": entry}
    if not isinstance(entry, dict) or not isinstance(entry.get("quantity"), str):
        raise ConfigError(
            f"{where}: fields.{path}: give a quantity name or {{quantity, unit, range}}"
        )
    unknown = set(entry) - {"quantity", "unit", "range", "counter", "description"}
    if unknown:
        raise ConfigError(f"{where}: fields.{path}: unknown key(s) {sorted(unknown)}")
    quantity = entry["quantity"]
    canonical = CANONICAL_UNITS.get(quantity)
    unit = entry.get("unit")
    if canonical is None:
        if unit is None or "range" not in entry:
            raise ConfigError(
                f"{where}: fields.{path}: {quantity!r} is not a canonical quantity "
                f"({', '.join(CANONICAL_UNITS)}); an extra field needs its unit and range"
            )
        stored = str(unit)
    elif canonical.startswith(_VENDOR_UNIT):
        stored = str(unit) if unit is not None else canonical
    else:
        stored = canonical
    unit = stored if unit is None else str(unit)
    bounds = entry.get("range", DEFAULT_RANGES.get(quantity))
    if (
        not isinstance(bounds, list | tuple)
        or len(bounds) != 2
        or not all(isinstance(b, int | float) and math.isfinite(b) for b in bounds)
        or bounds[0] > bounds[1]
    ):
        raise ConfigError(f"{where}: fields.{path}: range must be [minimum, maximum]")
    counter = None
    if "counter" in entry:
        spec = entry["counter"]
        try:
            counter = Counter(int(spec["bits"]), spec["kind"])
        except (TypeError, KeyError, ValueError):
            raise ConfigError(f"{where}: fields.{path}: counter is {{bits, kind}}") from None
        if counter.kind not in ("cumulative", "per_period"):
            raise ConfigError(f"{where}: fields.{path}: counter kind is cumulative or per_period")
    try:
        mapping = mapping_for(path, quantity, unit, stored)
    except ConfigError as exc:
        raise ConfigError(f"{where}: fields.{exc}") from None
    spec = FieldSpec(
        quantity, stored, float(bounds[0]), float(bounds[1]),
        str(entry.get("description", f"from {path}")), counter,
    )  # fmt: skip
    return mapping, spec


def _text(doc: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = doc.get(key, default)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key} is required (a string)")
    return value.strip()


def load_model(
    path: Path, limits: Limits | None = None, run_examples: bool = True
) -> ConfiguredModel:
    """Read one model file and its codec, and run its examples; ``ConfigError`` naming the file."""
    where = str(path)
    doc = _read_yaml(path)
    if not isinstance(doc, dict):
        raise ConfigError(f"{where}: expected a mapping with key, vendor, model, need, …")
    unknown = sorted(set(map(str, doc)) - _KEYS)
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {unknown}; known: {sorted(_KEYS)}")
    key = _text(doc, "key", where)
    need = _text(doc, "need", where)
    if need not in NEEDS:
        raise ConfigError(f"{where}: need {need!r} must be one of {', '.join(NEEDS)}")
    decoded = doc.get("decoded", "codec")
    if decoded not in ("codec", "upstream"):
        raise ConfigError(f"{where}: decoded must be codec or upstream, not {decoded!r}")
    ports = doc.get("f_ports")
    if ports is None:
        f_ports = _ALL_PORTS
    elif (
        isinstance(ports, list)
        and ports
        and all(isinstance(p, int) and not isinstance(p, bool) and 1 <= p <= 223 for p in ports)
    ):
        f_ports = frozenset(ports)
    else:
        raise ConfigError(f"{where}: f_ports must be a list of fPorts 1–223")
    variables = doc.get("variables") or {}
    if not isinstance(variables, dict):
        raise ConfigError(f"{where}: variables must be a mapping of names to strings")
    variables = {str(k): str(v) for k, v in variables.items()}

    fields_doc = doc.get("fields") or {}
    if not isinstance(fields_doc, dict):
        raise ConfigError(f"{where}: fields must map output paths to quantities")
    mappings: list[FieldMapping] = []
    specs: dict[str, FieldSpec] = {}
    for out_path, entry in fields_doc.items():
        mapping, spec = _field(str(out_path), entry, where)
        if spec.name in specs and specs[spec.name] != spec:
            raise ConfigError(f"{where}: fields: {spec.name} is mapped twice with different units")
        specs[spec.name] = spec
        mappings.append(mapping)

    decoder = doc.get("uplinkDecoder") or {}
    if not isinstance(decoder, dict):
        raise ConfigError(f"{where}: uplinkDecoder must be a mapping with fileName and examples")
    examples = doc.get("examples", decoder.get("examples")) or []
    if not isinstance(examples, list) or not all(isinstance(e, dict) for e in examples):
        raise ConfigError(f"{where}: examples must be a list of {{input, output}} mappings")

    codec: Codec | None = None
    if decoded == "codec":
        codec_name = doc.get("codec", decoder.get("fileName"))
        if not isinstance(codec_name, str) or not codec_name:
            raise ConfigError(f"{where}: codec (the .js file beside this one) is required")
        codec_path = path.parent / codec_name
        # The codec lives beside its model file (or below it): a path that resolves
        # elsewhere (``../../etc/passwd``, an absolute path, a symlink out) is refused.
        if not codec_path.resolve().is_relative_to(path.parent.resolve()):
            raise ConfigError(
                f"{where}: codec {codec_name!r} is outside the model file's directory"
            )
        try:
            source = codec_path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{where}: cannot read codec {codec_path}: {exc}") from None
        try:
            codec = Codec(source, name=codec_path.name, limits=limits)
        except CodecError as exc:
            raise ConfigError(f"{where}: {exc.reason}") from None
        if not mappings and not codec.normalizes:
            raise ConfigError(f"{where}: no fields map, and {codec_name} has no normalizeUplink")
    if not mappings:
        # Without a map the normalized payload's quantities are the fields.
        for quantity in ("temperature", "relative_humidity", "pressure", "co2", "illuminance"):
            low, high = DEFAULT_RANGES[quantity]
            specs[quantity] = FieldSpec(quantity, CANONICAL_UNITS[quantity], low, high)

    model = ConfiguredModel(
        spec=DecoderSpec(
            key=key,
            vendor=_text(doc, "vendor", where),
            model=_text(doc, "model", where),
            need=_need(need),
            f_ports=f_ports,
            fields=tuple(specs.values()),
            doc_url=str(doc.get("doc_url") or ""),
            decode=_upstream_decode,
            frame_kinds=frozenset({"readings"} if mappings else {"readings", "history"}),
        ),
        decoded=decoded,
        path=path,
        mappings=tuple(mappings),
        codec=codec,
        variables=variables,
        examples=tuple(examples),
    )
    if codec is not None:
        object.__setattr__(model, "spec", _with_decode(model))
    if run_examples:
        failures = check_examples(model)
        if failures:
            raise ConfigError(f"{where}: " + "; ".join(failures))
    return model


def _need(text: str) -> Need:
    assert text in NEEDS
    return text


def _with_decode(model: ConfiguredModel) -> DecoderSpec:
    return replace(model.spec, decode=partial(_decode_now, model))


def _decode_now(model: ConfiguredModel, f_port: int, payload: bytes) -> DecodedUplink:
    return model.decode(f_port, payload)


# --- examples ----------------------------------------------------------------------------------


def _close(expected: Any, actual: Any) -> bool:
    """Deep equality with a relative tolerance for numbers (JS and YAML floats differ in print)."""
    if isinstance(expected, bool) or isinstance(actual, bool):
        return expected == actual
    if isinstance(expected, int | float) and isinstance(actual, int | float):
        return math.isclose(expected, actual, rel_tol=_TOLERANCE, abs_tol=_TOLERANCE)
    if isinstance(expected, dict) and isinstance(actual, dict):
        return expected.keys() == actual.keys() and all(
            _close(v, actual[k]) for k, v in expected.items()
        )
    if isinstance(expected, list) and isinstance(actual, list):
        return len(expected) == len(actual) and all(map(_close, expected, actual))
    return expected == actual


def _bytes(value: Any) -> bytes:
    if isinstance(value, str):
        return bytes.fromhex(value.replace(" ", ""))
    if isinstance(value, list) and all(isinstance(b, int) and 0 <= b <= 255 for b in value):
        return bytes(value)
    raise ValueError("bytes must be a list of 0–255 or a hex string")


def _readings_match(expected: Any, decoded: DecodedUplink) -> str | None:
    if not isinstance(expected, dict):
        return "readings must map quantities to numbers"
    actual: dict[str, float] = {}
    for frame in decoded.frames:
        actual.update(frame.readings)
    if not _close({k: float(v) for k, v in expected.items()}, actual):
        return f"readings {actual} != expected {expected}"
    return None


def check_examples(model: ConfiguredModel) -> list[str]:
    """Run every example of a model; one message per failing example (empty when all pass)."""
    failures: list[str] = []
    for index, example in enumerate(model.examples):
        label = f"example {index + 1}" + (
            f" ({example['description']})" if example.get("description") else ""
        )
        try:
            problem = _check_example(model, example)
        except (ValueError, TypeError, KeyError) as exc:
            problem = f"malformed: {exc}"
        if problem:
            failures.append(f"{label}: {problem}")
    return failures


def _check_example(model: ConfiguredModel, example: Mapping[str, Any]) -> str | None:
    if model.codec is None:
        if "object" not in example:
            return "an upstream model's example gives the decoded `object`"
        return _readings_match(
            example.get("readings", {}), readings_from_object(model, example["object"])
        )
    source = example["input"]
    f_port, payload = int(source["fPort"]), _bytes(source["bytes"])
    expected = example.get("output") or {}
    want_errors = list(expected.get("errors") or [])
    try:
        output = model.run_codec(f_port, payload, recv_time_ns=_example_time(source))
    except CodecError as exc:
        if want_errors and all(e in exc.reason for e in want_errors):
            return None
        return f"codec failed: {exc.reason}"
    if want_errors:
        return f"expected errors {want_errors}, codec returned data {output.data}"
    if "data" in expected and not _close(expected["data"], output.data):
        return f"data {output.data} != expected {expected['data']}"
    if "warnings" in expected and list(expected["warnings"] or []) != list(output.warnings):
        return f"warnings {list(output.warnings)} != expected {expected['warnings']}"
    normalized = example.get("normalizedOutput")
    if isinstance(normalized, dict) and "data" in normalized:
        if not _close(normalized["data"], output.normalized):
            return f"normalized {output.normalized} != expected {normalized['data']}"
    if "readings" in example:
        try:
            decoded = _checked(model.spec, model.map_output(output))
        except DecodeError as exc:
            return f"readings failed: {exc.reason}"
        return _readings_match(example["readings"], decoded)
    return None


def _example_time(source: Mapping[str, Any]) -> int:
    """``input.recvTime`` of an example (RFC 3339), or a fixed instant so examples are repeatable."""
    text = source.get("recvTime")
    if isinstance(text, str):
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return int(moment.timestamp() * 1000) * 1_000_000
    return 1_700_000_000_000_000_000


# --- the catalog -------------------------------------------------------------------------------


def load_directory(directory: Path, limits: Limits | None = None) -> dict[str, ConfiguredModel]:
    """Every ``*.yaml``/``*.yml`` model in a directory; ``ConfigError`` naming the first bad file."""
    if not directory.is_dir():
        raise ConfigError(f"{directory}: models directory does not exist")
    native = {spec.key for spec in SPECS}
    models: dict[str, ConfiguredModel] = {}
    for path in sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")]):
        model = load_model(path, limits)
        if model.key in native:
            raise ConfigError(f"{path}: key {model.key!r} is a native decoder's; choose another")
        if model.key in models:
            raise ConfigError(f"{path}: key {model.key!r} also in {models[model.key].path}")
        models[model.key] = model
    return models


class ModelCatalog:
    """Configured models by key, re-read when a file in the directory changes.

    Checked at most every ``check_interval`` s, on lookups. A directory broken
    by an edit keeps the last good catalog and logs the error: config errors
    stop the bridge at start-up, never mid-stream.
    """

    def __init__(
        self, directory: Path | None, check_interval: float = 1.0, limits: Limits | None = None
    ) -> None:
        self.directory = directory
        self.check_interval = check_interval
        self.limits = limits
        self._models: dict[str, ConfiguredModel] = {}
        self._stamp: tuple[tuple[str, int], ...] = ()
        self._next_check = 0.0
        self._lock = threading.Lock()
        if directory is not None:
            self._stamp = self._stat()
            self._models = load_directory(directory, limits)
            self._next_check = time.monotonic() + check_interval

    def _stat(self) -> tuple[tuple[str, int], ...]:
        assert self.directory is not None
        try:
            return tuple(
                sorted(
                    (p.name, p.stat().st_mtime_ns) for p in self.directory.iterdir() if p.is_file()
                )
            )
        except OSError:
            return self._stamp

    def reload_if_changed(self) -> bool:
        """Re-read the directory if a file was added, removed or changed; True when reloaded."""
        if self.directory is None:
            return False
        stamp = self._stat()
        if stamp == self._stamp:
            return False
        with self._lock:
            self._stamp = stamp
            try:
                models = load_directory(self.directory, self.limits)
            except ConfigError as exc:
                log.error("event=models_reload_failed path=%s error=%r", self.directory, str(exc))
                return False
            self._models = models
        log.info("event=models_reloaded path=%s models=%d", self.directory, len(models))
        return True

    def _maybe_reload(self) -> None:
        now = time.monotonic()
        if self.directory is not None and now >= self._next_check:
            self._next_check = now + self.check_interval
            self.reload_if_changed()

    def get(self, key: str) -> ConfiguredModel | None:
        """The configured model with this key, or None."""
        self._maybe_reload()
        return self._models.get(key)

    def is_known(self, key: str) -> bool:
        """Whether a model key is native or configured: the device registry's check."""
        return key in _NATIVE_KEYS or self.get(key) is not None

    def models(self) -> list[ConfiguredModel]:
        self._maybe_reload()
        return list(self._models.values())

    def __len__(self) -> int:
        return len(self._models)


_NATIVE_KEYS = frozenset(spec.key for spec in SPECS)
_active: ModelCatalog | None = None


def install(catalog: ModelCatalog | None) -> None:
    """Make ``catalog`` the one ``decoders.get_spec`` falls back to (None: native models only)."""
    global _active
    _active = catalog


def active() -> ModelCatalog | None:
    """The installed catalog, if any."""
    return _active


def configured_spec(key: str) -> DecoderSpec | None:
    """The spec of a configured model in the installed catalog, or None."""
    model = _active.get(key) if _active is not None else None
    return model.spec if model is not None else None
