"""YAML for the platform's own configuration files (device registry, model definitions).

``NoAliasLoader`` is PyYAML's ``SafeLoader`` refusing aliases (``*name``): the platform's
files never need them, and an alias bomb (anchors nested a few levels deep) expands to
gigabytes in seconds before any check of the document could run.
"""

from __future__ import annotations

from typing import Any

import yaml


class NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that raises ``yaml.YAMLError`` at the first alias."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            raise yaml.composer.ComposerError(
                None, None, "YAML aliases (*name) are not allowed", self.peek_event().start_mark
            )
        return super().compose_node(parent, index)


def load(text: str, loader: type[NoAliasLoader] = NoAliasLoader) -> Any:
    """One document with ``loader`` (``NoAliasLoader`` or a subclass); ``yaml.YAMLError`` if bad."""
    return yaml.load(text, Loader=loader)  # noqa: S506 - a SafeLoader subclass
