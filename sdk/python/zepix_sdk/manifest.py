"""Reading a plugin folder: ``plugin.toml``, ``config.toml``, the entry module and its class."""

from __future__ import annotations

import importlib.util
import sys
import tomllib
from pathlib import Path
from types import ModuleType
from typing import Any

from .base import SDK_BASES


def load_manifest(plugin_dir: Path | str | None) -> dict:
    """``plugin.toml`` of ``plugin_dir`` as a dict; ``{}`` when there is none."""
    if plugin_dir is None:
        return {}
    path = Path(plugin_dir) / "plugin.toml"
    if not path.is_file():
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def load_config(plugin_dir: Path | str | None) -> dict:
    """``config.toml`` of ``plugin_dir`` (the default settings); ``{}`` when there is none."""
    if plugin_dir is None:
        return {}
    path = Path(plugin_dir) / "config.toml"
    if not path.is_file():
        return {}
    with open(path, "rb") as f:
        return tomllib.load(f)


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "string":
        return isinstance(value, str)
    if kind == "integer":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "number":
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if kind == "boolean":
        return isinstance(value, bool)
    if kind == "array":
        return isinstance(value, list)
    return False


def validate_settings(schema: dict, given: dict) -> dict:
    """The engine's settings check (crates/zepix-plugin/src/settings.rs) in Python: fills defaults
    and raises ValueError listing every unknown, missing or ill-typed setting."""
    errors = []
    out = {}
    for key in given:
        if key not in schema:
            known = ", ".join(sorted(schema)) or "none: this plugin takes no settings"
            errors.append(f"setting `{key}`: unknown setting: expected one of {known}")
    for key in sorted(schema):
        rule = schema[key] or {}
        if key in given:
            value = given[key]
        elif "default" in rule:
            value = rule["default"]
        else:
            errors.append(f"setting `{key}`: missing: a {rule.get('type')} is required (no default)")
            continue
        kind = rule.get("type", "")
        if not _type_ok(kind, value):
            errors.append(f"setting `{key}`: expected a {kind}, got {value!r}")
            continue
        items = rule.get("items")
        if kind == "array" and items:
            bad = [i for i, item in enumerate(value) if not _type_ok(items, item)]
            if bad:
                errors.append(f"setting `{key}`: item {bad[0]}: expected a {items}")
                continue
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if "minimum" in rule and value < rule["minimum"]:
                errors.append(f"setting `{key}`: {value} is below the minimum {rule['minimum']}")
                continue
            if "maximum" in rule and value > rule["maximum"]:
                errors.append(f"setting `{key}`: {value} is above the maximum {rule['maximum']}")
                continue
        if "enum" in rule and value not in rule["enum"]:
            errors.append(f"setting `{key}`: {value!r} is not one of {rule['enum']}")
            continue
        out[key] = value
    if errors:
        raise ValueError("; ".join(errors))
    return out


def resolve_settings(manifest: dict, plugin_dir: Path | str | None, overrides: dict | None = None) -> dict:
    """The settings the engine would pass: ``config.toml`` over the schema defaults, then
    ``overrides``; validated against ``[settings_schema]`` when the manifest has one."""
    given = dict(load_config(plugin_dir))
    given.update(overrides or {})
    schema = manifest.get("settings_schema")
    if schema is None:
        return given
    return validate_settings(schema, given)


def load_entry(plugin_dir: Path | str, manifest: dict, module_name: str | None = None) -> ModuleType:
    """Imports the entry file named by the manifest (default ``plugin.py``)."""
    plugin_dir = Path(plugin_dir)
    entry = manifest.get("entry") or "plugin.py"
    path = (plugin_dir / entry).resolve()
    if not path.is_file():
        raise FileNotFoundError(f"entry file {path} not found")
    name = module_name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        sys.modules.pop(name, None)
        raise
    return module


def find_plugin_class(module: ModuleType) -> type:
    """The module's ``Plugin`` class, or the single plugin class it defines."""
    cls = getattr(module, "Plugin", None)
    if isinstance(cls, type):
        return cls
    candidates = [
        obj
        for obj in vars(module).values()
        if isinstance(obj, type)
        and obj not in SDK_BASES
        and issubclass(obj, SDK_BASES)
        and obj.__module__ == module.__name__
    ]
    # Keep the most derived classes: a base class the module also defines is not the plugin.
    leaves = [c for c in candidates if not any(o is not c and issubclass(o, c) for o in candidates)]
    if len(leaves) == 1:
        return leaves[0]
    where = getattr(module, "__file__", module.__name__)
    if not leaves:
        raise LookupError(
            f"{where} defines no plugin class: add `class Plugin(LogicPlugin)` "
            "(or one subclass of LogicPlugin / StrategyPlugin / DataSourcePlugin)"
        )
    names = ", ".join(sorted(c.__name__ for c in leaves))
    raise LookupError(f"{where} defines several plugin classes ({names}): name the one to run `Plugin`")


def default_roles(cls: type) -> list[str]:
    from .base import DataSourcePlugin, StrategyPlugin

    if issubclass(cls, StrategyPlugin):
        return ["strategy"]
    if issubclass(cls, DataSourcePlugin):
        return ["data_source"]
    return ["logic"]
