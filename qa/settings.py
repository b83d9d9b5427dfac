"""Settings of answering: the LLM backend and answer options. Read as ``index.Settings``
is: flags > environment (``QA_``) > the settings file (``qa config``) > defaults."""

from __future__ import annotations

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from index.settings import FileSettings


class Settings(FileSettings):
    model_config = SettingsConfigDict(env_prefix="QA_", extra="ignore", populate_by_name=True)

    llm: str | None = Field(
        default=None, description="The LLM that writes answers: http(s)://host:port, ollama:MODEL or gguf:PATH; unset: none."
    )
    llm_model: str = Field(default="local-model", description="Model name sent to an OpenAI-compatible server.")
    llm_api_key: SecretStr | None = Field(default=None, description="API key of an OpenAI-compatible server.")
    llm_context: int | None = Field(
        default=None, gt=0, description="Context window in tokens [default: 8192 for a server, 4096 for GGUF]."
    )
    llm_timeout: float = Field(default=120.0, gt=0, description="Seconds to wait for the LLM.")
    ollama_host: str = Field(
        default="http://localhost:11434",
        validation_alias=AliasChoices("ollama_host", "OLLAMA_HOST", "QA_OLLAMA_HOST"),
        description="Where Ollama listens.",
    )
    rerank: bool | None = Field(
        default=None, description="Rescore passages with the answer model [default: as shipped: on for the model's answers, off for search]."
    )
