"""Typed settings: flags > environment (prefix ``QA_``) > the settings file > defaults.

The settings file is TOML in the platform's config folder (``QA_CONFIG`` names another),
flat keys named as the fields (``collection = "news"``); ``qa config`` shows and sets it.
Every entry point (CLI, TUI, tests, benchmarks) builds one ``Settings`` and passes it down;
nothing reads a global.
"""

from __future__ import annotations

import hashlib
import os
import re
import tomllib
from pathlib import Path

from platformdirs import user_cache_dir, user_config_dir, user_data_dir
from pydantic import AliasChoices, Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from .errors import QAError

COLLECTION_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$")


def config_path() -> Path:
    """The settings file: ``QA_CONFIG``, else ``config.toml`` in the platform's config folder."""
    explicit = os.environ.get("QA_CONFIG")
    return Path(explicit).expanduser() if explicit else Path(user_config_dir("qa-news", appauthor=False)) / "config.toml"


class ConfigError(QAError, ValueError):
    """A settings file that cannot be read, or a bad setting; str() is one line naming it."""

    exit_code = 2  # a usage error


def read_config(path: Path | None = None) -> dict:
    """The settings file's keys ({} when there is none)."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the settings file {path}: {exc}") from None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the settings file {path} is not valid TOML ({exc}); fix it or qa config unset the key") from None


class ConfigFile(PydanticBaseSettingsSource):
    """The settings file as a pydantic-settings source: the keys this class knows."""

    def get_field_value(self, field, field_name):  # the whole file is read in __call__
        return None, field_name, False

    def __call__(self) -> dict:
        fields = self.settings_cls.model_fields
        return {k: v for k, v in read_config().items() if k in fields}


class FileSettings(BaseSettings):
    """Flags (init arguments) > environment > settings file > defaults. A bad value, from
    any of them, is a ``ConfigError`` naming the key (every settings class, wherever it is
    read: not only the ones the CLI builds first)."""

    def __init__(self, **values):
        try:
            super().__init__(**values)
        except ValidationError as exc:
            first = exc.errors()[0]
            key = ".".join(map(str, first["loc"]))
            where = " (in the settings file: qa config set or unset it)" if key in read_config() and key not in values else ""
            raise ConfigError(f"{key}: {first['msg']}{where}") from None

    @classmethod
    def settings_customise_sources(cls, settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings):
        return (init_settings, env_settings, ConfigFile(settings_cls))


class Settings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", populate_by_name=True)

    data_dir: Path = Field(
        default_factory=lambda: Path(user_data_dir("qa-news", appauthor=False)),
        validation_alias=AliasChoices("data_dir", "QA_HOME", "QA_DATA_DIR"),
        description="Where the embedded Chroma store, lexical index, locks and chats live.",
    )
    chroma_url: str | None = Field(
        default=None,
        description="URL of a Chroma server (http://host:port); unset means embedded Chroma.",
    )
    chroma_connect_timeout: float = Field(
        default=5.0, gt=0, description="Seconds to wait for a connection to the Chroma server."
    )
    chroma_read_timeout: float = Field(
        default=60.0, gt=0, description="Seconds to wait for each answer of the Chroma server."
    )
    collection: str = Field(default="default", description="Named collection of articles.")
    model_cache_dir: Path = Field(
        default_factory=lambda: Path(user_cache_dir("qa-news", appauthor=False)) / "models",
        description="Where the ONNX export of the embedding model is cached.",
    )
    embed_backend: str = Field(
        default="onnx",
        description="'onnx' (fast start, same vectors) or 'sentence-transformers'.",
    )
    embed_precision: str | None = Field(
        default=None,
        description="'int8' or 'fp32' for collections built from now on (default int8); an"
        " existing collection keeps the one it was built with until --rebuild.",
    )
    # Texts per ONNX run; runs go side by side on the cores. Small batches pad less and
    # keep attention in cache: 300 realtimeqa articles took 101 s and 1,273 MB peak RSS at
    # 32, 84 s and 544 MB at 4 (docs/benchmarks.md, "Embedding batch size").
    embed_batch_size: int = Field(default=4, ge=1, le=512)
    max_file_mb: float = Field(
        default=10.0, gt=0, description="Larger article files (and JSONL lines) are refused."
    )
    max_jsonl_mb: float = Field(default=500.0, gt=0, description="Larger JSONL files are refused.")
    chunk_tokens: int = Field(
        default=200, ge=32, le=254, description="Word pieces per chunk, title context included."
    )
    chunk_overlap_tokens: int = Field(default=40, ge=0, le=128)
    chunk_title_context: bool = Field(
        default=True, description="Embed each chunk with its article's title in front."
    )
    sync_batch_articles: int = Field(
        default=64, ge=1, description="Articles chunked, embedded and written per batch."
    )
    feed_timeout: float = Field(
        default=20.0, gt=0, description="Seconds allowed for each feed or page download."
    )
    feed_max_mb: float = Field(default=5.0, gt=0, description="Larger feeds and pages are refused.")
    feed_host_delay: float = Field(
        default=0.5, ge=0, description="Seconds between two requests to one web site."
    )

    @field_validator("collection")
    @classmethod
    def _valid_collection(cls, value: str) -> str:
        if not COLLECTION_NAME.match(value):
            raise ValueError(
                f"collection name {value!r} must be 1-63 letters, digits, '-' or '_'"
            )
        return value

    @field_validator("embed_precision")
    @classmethod
    def _valid_precision(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if value not in ("int8", "fp32"):
            raise ValueError(f"embedding precision {value!r} must be int8 or fp32")
        return value

    @field_validator("chroma_url")
    @classmethod
    def _valid_url(cls, value: str | None) -> str | None:
        if value in (None, ""):
            return None
        if not re.match(r"^https?://[^/:]+(:\d+)?/?$", value):
            raise ValueError(f"Chroma URL {value!r} must look like http://host:port")
        return value.rstrip("/")

    @property
    def store_key(self) -> str:
        """Names the lexical index file of this store + collection."""
        where = self.chroma_url or "embedded"
        digest = hashlib.sha1(where.encode()).hexdigest()[:8]
        return f"{self.collection}-{digest}"

    @property
    def where(self) -> str:
        return self.chroma_url or str(self.data_dir / "chroma")
