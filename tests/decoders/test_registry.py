"""The registry is the one complete list: every family module registered, keys unique, fields canonical."""

from __future__ import annotations

import importlib
import pkgutil

import decoders.families
from core.quantities import CANONICAL_UNITS
from decoders import supported_models
from decoders.registry import SPECS

NEEDS = {"damp", "air_quality", "footfall"}


def test_keys_unique_and_sorted_needs() -> None:
    keys = [spec.key for spec in SPECS]
    assert len(keys) == len(set(keys))
    assert all(spec.need in NEEDS for spec in SPECS)


def test_every_family_module_is_registered() -> None:
    registered = {spec.decode.__module__ for spec in SPECS}
    for info in pkgutil.iter_modules(decoders.families.__path__):
        module = importlib.import_module(f"decoders.families.{info.name}")
        assert module.__name__ in registered, f"{module.__name__} has no spec in the registry"


def test_canonical_fields_use_canonical_units() -> None:
    for spec in SPECS:
        for field in spec.fields:
            if field.name in CANONICAL_UNITS and "vendor unit" not in CANONICAL_UNITS[field.name]:
                assert field.unit == CANONICAL_UNITS[field.name], f"{spec.key}.{field.name}"
            assert field.minimum <= field.maximum


def test_every_spec_documents_itself() -> None:
    for spec in SPECS:
        assert spec.doc_url.startswith("https://"), spec.key
        assert spec.f_ports, spec.key
        assert spec.fields, spec.key
        assert spec.decode.__module__.startswith("decoders.families."), spec.key
        assert (importlib.import_module(spec.decode.__module__).__doc__ or "").strip()


def test_supported_models_shape() -> None:
    for entry in supported_models():
        assert set(entry) >= {"model", "vendor", "need", "f_ports", "fields", "doc_url"}


def test_every_model_declares_its_frame_kinds() -> None:
    for spec in SPECS:
        assert spec.frame_kinds and spec.frame_kinds <= {"readings", "history", "status"}, spec.key
