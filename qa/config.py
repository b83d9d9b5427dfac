"""``qa config``: the settings in effect and where each comes from; setting and unsetting
keys of the settings file. The file holds flat keys, the field names of ``index.Settings``
and ``qa.settings.Settings``; it is written whole (a temporary file renamed), and kept
readable by its owner only when it holds a secret."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import AliasChoices, BaseModel, SecretStr

from index.settings import ConfigError, config_path, read_config
from index.settings import Settings as IndexSettings

from .settings import Settings as AnswerSettings

CLASSES = (IndexSettings, AnswerSettings)


def known_keys() -> dict[str, type]:
    return {name: cls for cls in CLASSES for name in cls.model_fields}


def env_names(cls: type[BaseModel], name: str) -> list[str]:
    alias = cls.model_fields[name].validation_alias
    if isinstance(alias, AliasChoices):
        return [c for c in alias.choices if isinstance(c, str) and c.isupper()]
    return [f"QA_{name.upper()}"]


def shown(value) -> str:
    if isinstance(value, SecretStr):
        return "********" if value.get_secret_value() else ""
    return "" if value is None else str(value)


def effective() -> list[dict]:
    """[{"key", "value", "from"}] for every setting; secrets masked."""
    from_file = read_config()
    rows = []
    for cls in CLASSES:
        current = cls()
        for name in cls.model_fields:
            env = next((e for e in env_names(cls, name) if e in os.environ), None)
            origin = f"environment {env}" if env else "settings file" if name in from_file else "default"
            rows.append({"key": name, "value": shown(getattr(current, name)), "from": origin})
    return rows


def _checked(key: str, value: str):
    cls = known_keys().get(key)
    if cls is None:
        raise ConfigError(f"unknown setting {key!r}; qa config show lists them")
    checked = cls(**{key: value})  # a bad value: ConfigError "key: why"
    typed = getattr(checked, key)
    if isinstance(typed, SecretStr):
        return typed.get_secret_value(), True
    if isinstance(typed, Path):
        return str(typed), False
    return typed, False


def _write(path: Path, data: dict) -> None:
    """Written whole, and readable by its owner only from its first byte (0600): it may
    hold an API key. (It used to be written readable by all, then narrowed for a secret:
    a crash between the two left the key in a readable temporary file.)"""
    import tomli_w

    from index.files import replace_file

    try:
        replace_file(path, tomli_w.dumps({k: v for k, v in data.items() if v is not None}).encode("utf-8"), private=True)
    except OSError as exc:
        raise ConfigError(f"cannot write the settings file {path}: {exc.strerror or exc}") from None


def set_value(key: str, value: str) -> tuple[Path, str]:
    """Check VALUE as the setting would read it, then write it. Returns the file and
    the value as shown (a secret masked)."""
    typed, secret = _checked(key, value)
    path = config_path()
    data = read_config(path)
    data[key] = typed
    _write(path, data)
    return path, "********" if secret else shown(typed)


def unset_value(key: str) -> tuple[Path, bool]:
    if key not in known_keys():
        raise ConfigError(f"unknown setting {key!r}; qa config show lists them")
    path = config_path()
    data = read_config(path)
    if key not in data:
        return path, False
    del data[key]
    _write(path, data)
    return path, True
