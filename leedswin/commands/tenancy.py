"""`leedswin tenancy …`: properties, home devices' placements and tenancy periods.

The same store as the housing API (``storage.tenancy``), in the registry
``LEEDSWIN_API_REGISTRY`` names. References are pseudonymous ids, never names.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import TypeVar

import typer

from core.errors import ConfigError
from core.settings import ApiSettings, BridgeSettings, build
from storage.devices import DeviceRegistry
from storage.registry import open_registry
from storage.tenancy import Tenancies, TenancyError, TimeRangeError, check_time, iso

T = TypeVar("T")

_REGISTRY = typer.Option(None, help="SQLite registry [LEEDSWIN_API_REGISTRY]")


def parse_time(text: str) -> datetime:
    """RFC 3339 or a date (midnight UTC); naive times are UTC; the result in UTC.

    Bad text, or a time the stores cannot hold (``storage.tenancy.check_time``: before
    1970, from 2262, or an offset that leaves the calendar): BadParameter (exit 2)."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not a date or RFC 3339 time: {text!r}") from None
    try:
        return check_time(moment, repr(text))
    except TimeRangeError as exc:
        raise typer.BadParameter(str(exc)) from None


@contextmanager
def store(registry: Path | None) -> Iterator[Tenancies]:
    try:
        api: ApiSettings = build(ApiSettings, registry=registry)
        conn = open_registry(api.registry)
    except ConfigError as exc:
        raise typer.BadParameter(str(exc)) from exc
    try:
        yield Tenancies(conn)
    finally:
        conn.close()


def attempt(action: Callable[[], T]) -> T:
    """Run one store action; a refusal is a one-line error and exit status 1."""
    try:
        return action()
    except TenancyError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(1) from None


def register(app: typer.Typer) -> None:
    tenancy_app = typer.Typer(
        help="Properties, home devices' placements and tenancy periods (pseudonymous ids).",
        no_args_is_help=True,
    )
    app.add_typer(tenancy_app, name="tenancy")

    @tenancy_app.command("add-property")
    def add_property(ref: str, registry: Path | None = _REGISTRY) -> None:
        """Record a property under a pseudonymous reference (never an address)."""
        with store(registry) as tenancies:
            typer.echo(attempt(lambda: tenancies.create_property(ref)))

    @tenancy_app.command("assign")
    def assign(
        dev_eui: str,
        property_ref: str,
        start: str = typer.Option(..., help="From (date or RFC 3339, UTC)"),
        end: str | None = typer.Option(None, help="To, exclusive (default: open)"),
        registry: Path | None = _REGISTRY,
        device_registry: Path | None = typer.Option(
            None, help="Device registry (YAML/CSV) [LEEDSWIN_BRIDGE_DEVICE_REGISTRY]"
        ),
    ) -> None:
        """Place a home device in a property from START (to END); a device the device
        registry marks public is refused."""
        begin, until = parse_time(start), parse_time(end) if end else None
        try:
            bridge: BridgeSettings = build(BridgeSettings, device_registry=device_registry)
            known = DeviceRegistry(bridge.device_registry).get(dev_eui.lower())
        except ConfigError as exc:
            raise typer.BadParameter(str(exc)) from exc
        privacy = known.privacy if known else None
        with store(registry) as tenancies:
            a = attempt(
                lambda: tenancies.assign(dev_eui, property_ref, begin, until, privacy=privacy)
            )
            typer.echo(
                f"{a.dev_eui}\t{a.property_ref}\t{iso(a.start)}\t{iso(a.end) if a.end else ''}"
            )

    @tenancy_app.command("unassign")
    def unassign(
        dev_eui: str,
        end: str = typer.Option(..., help="When the device left (date or RFC 3339)"),
        registry: Path | None = _REGISTRY,
    ) -> None:
        """End a device's current placement."""
        until = parse_time(end)
        with store(registry) as tenancies:
            a = attempt(lambda: tenancies.end_assignment(dev_eui, until))
            typer.echo(f"{a.dev_eui}\t{a.property_ref}\t{iso(a.start)}\t{iso(until)}")

    @tenancy_app.command("open")
    def open_(
        property_ref: str,
        start: str = typer.Option(..., help="Tenancy start (date or RFC 3339)"),
        ref: str | None = typer.Option(None, help="Pseudonymous tenancy id (default: generated)"),
        registry: Path | None = _REGISTRY,
    ) -> None:
        """Open a tenancy of a property; prints its reference."""
        begin = parse_time(start)
        with store(registry) as tenancies:
            typer.echo(attempt(lambda: tenancies.open_tenancy(property_ref, begin, ref)).ref)

    @tenancy_app.command("end")
    def end_(
        ref: str,
        end: str = typer.Option(..., help="Tenancy end, exclusive (date or RFC 3339)"),
        registry: Path | None = _REGISTRY,
    ) -> None:
        """End a tenancy."""
        until = parse_time(end)
        with store(registry) as tenancies:
            attempt(lambda: tenancies.end_tenancy(ref, until))
            typer.echo(f"{ref}\tended {iso(until)}")

    @tenancy_app.command("list")
    def list_(
        property_ref: str | None = typer.Option(None, "--property", help="Only this property"),
        registry: Path | None = _REGISTRY,
    ) -> None:
        """Tenancies (ref, property, start, end, erased) and device placements."""
        with store(registry) as tenancies:
            for t in attempt(lambda: tenancies.tenancies(property_ref)):
                typer.echo(
                    f"tenancy\t{t.ref}\t{t.property_ref}\t{iso(t.start)}"
                    f"\t{iso(t.end) if t.end else ''}\t{'erased' if t.erased_at else ''}"
                )
            for a in tenancies.assignments(property_ref=property_ref):
                typer.echo(
                    f"device\t{a.dev_eui}\t{a.property_ref}\t{iso(a.start)}"
                    f"\t{iso(a.end) if a.end else ''}"
                )
