"""Builds what the Rasa engine needs: knowledge-base-derived training inputs, its config files, a trained model.

Training takes minutes, so a model is cached by a digest of everything that
shapes it (pipeline, domain, training data, the inputs derived from the
knowledge base, the engine's lock file); `make run` and `make test` train only
when that digest is new.
"""

from __future__ import annotations

import fcntl
import hashlib
import logging
import os
import shutil
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

import yaml

from bot.errors import ConfigurationError
from bot.settings import REPO_ROOT, VAR_DIR, Settings
from bot.knowledge import learned
from bot.knowledge.catalogue import load_catalogue
from bot.understanding.dictionary import write_jieba_dictionary

log = logging.getLogger(__name__)

BUILD_DIR = VAR_DIR / "build"
RASA_ENV = REPO_ROOT / ".venv-rasa"
TRAINING_SOURCES = ("config.yml", "dialogues/domain", "dialogues/data", "packaging/rasa.lock")
# The input channel the gateway sends messages to, loaded by Rasa from this repository (bot/rasa_plugins/channel.py).
GATEWAY_CHANNEL = "bot.rasa_plugins.channel.GatewayInput"


def model_cache_dir() -> Path:
    """Trained models kept across clones of the repository (CI reuses them by digest)."""
    root = Path(os.environ.get("BIANMIN_CACHE_DIR") or Path.home() / ".cache" / "bianmin")
    return root / "models"


def rasa_executable() -> Path:
    """The `rasa` command of the engine's own environment."""
    path = RASA_ENV / "bin" / "rasa"
    if not path.exists():
        raise ConfigurationError("the Rasa environment is missing: run `make run` or packaging/setup-environments.sh")
    return path


def write_training_inputs(knowledge_base_dir: Path, build_dir: Path = BUILD_DIR) -> None:
    """Writes the jieba user dictionary and the service synonyms/lookup derived from the knowledge base."""
    catalogue = load_catalogue(knowledge_base_dir)
    jieba_dir = build_dir / "jieba"
    jieba_dir.mkdir(parents=True, exist_ok=True)
    write_jieba_dictionary(catalogue, jieba_dir / "userdict.txt")

    lines = ['version: "3.1"', "# Written from knowledge_base/ by bot.engine.build; do not edit.", "nlu:"]
    for service in catalogue.services.values():
        names = sorted({service.name, service.short_name, *service.aliases} - {service.id})
        lines += [f"- synonym: {service.id}", "  examples: |", *(f"    - {_quoted(n)}" for n in names)]
    lookups = sorted({n for s in catalogue.services.values() for n in (s.short_name, *s.aliases) if len(n) >= 2})
    lines += ["- lookup: service", "  examples: |", *(f"    - {_quoted(n)}" for n in lookups)]
    districts = sorted({c.district for c in catalogue.centres.values()})
    lines += ["- lookup: district", "  examples: |", *(f"    - {d}" for d in districts)]
    lines += ["- lookup: district", "  examples: |", *(f"    - {d.removesuffix('区')}" for d in districts)]
    for district in districts:
        lines += [f"- synonym: {district}", "  examples: |", f"    - {district.removesuffix('区')}"]
    nlu_dir = build_dir / "nlu"
    nlu_dir.mkdir(parents=True, exist_ok=True)
    (nlu_dir / "knowledge_base.yml").write_text("\n".join(lines) + "\n", encoding="utf-8")
    write_learned_examples(knowledge_base_dir, nlu_dir / "learned.yml")


def write_learned_examples(knowledge_base_dir: Path, target: Path) -> None:
    """The ways of asking supervisors attached to an intent, as training examples (no file when there are none)."""
    examples = learned.read_examples(knowledge_base_dir)
    if not examples:
        target.unlink(missing_ok=True)
        return
    by_intent: dict[str, list[str]] = {}
    for intent, text in examples:
        by_intent.setdefault(intent, []).append(_quoted(text))
    lines = ['version: "3.1"', "# Written from knowledge_base/learned_examples.yml by bot.engine.build; do not edit.", "nlu:"]
    for intent, texts in by_intent.items():
        lines += [f"- intent: {intent}", "  examples: |", *(f"    - {t}" for t in texts)]
    target.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _quoted(name: str) -> str:
    """An example line safe inside a YAML block (names never span lines)."""
    return " ".join(name.split())


def training_digest(build_dir: Path = BUILD_DIR) -> str:
    """A digest of every file that shapes the trained model."""
    digest = hashlib.sha256()
    paths: list[Path] = []
    for source in (*[REPO_ROOT / s for s in TRAINING_SOURCES], build_dir / "jieba", build_dir / "nlu"):
        paths += sorted(p for p in source.rglob("*") if p.is_file()) if source.is_dir() else [source]
    for path in paths:
        digest.update(str(path.relative_to(REPO_ROOT) if path.is_relative_to(REPO_ROOT) else path.name).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def ensure_model(settings: Settings, build_dir: Path = BUILD_DIR) -> Path:
    """The trained model for the current training data: from models/, the cache, or trained now.

    A lock per model in the cache lets a second checkout (or test run) that needs the same model
    wait for the one training it, instead of training it again on the same cores.
    """
    name = f"bianmin-{training_digest(build_dir)}.tar.gz"
    target = settings.rasa_model_dir / name
    cached = model_cache_dir() / name
    settings.rasa_model_dir.mkdir(parents=True, exist_ok=True)
    cached.parent.mkdir(parents=True, exist_ok=True)
    with (cached.parent / f"{name}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not target.exists() and cached.exists():
            shutil.copy2(cached, target)
            log.info("model %s taken from the cache", name)
        if not target.exists():
            log.info("training the Rasa model %s (takes a few minutes; later runs reuse it)", name)
            train(target, build_dir)
            # Copied under another name and renamed, so nobody ever reads half a model from the cache.
            partial = cached.with_name(f".{name}.partial")
            shutil.copy2(target, partial)
            partial.replace(cached)
    return target


def train(target: Path, build_dir: Path = BUILD_DIR) -> None:
    """Runs `rasa train` in the engine's environment and writes the model to `target`."""
    with tempfile.TemporaryDirectory(dir=target.parent) as out:
        command = [
            str(rasa_executable()), "train", "--config", "config.yml", "--domain", "dialogues/domain",
            "--data", "dialogues/data", str(build_dir / "nlu"), "--out", out,
            "--fixed-model-name", target.name.removesuffix(".tar.gz"),
        ]
        subprocess.run(command, cwd=REPO_ROOT, check=True, env=engine_environment())
        produced = next(Path(out).glob("*.tar.gz"))
        produced.replace(target)


def engine_environment() -> dict[str, str]:
    """Environment for Rasa processes: no telemetry, quiet TensorFlow, no network look-ups."""
    env = dict(os.environ)
    env.update({
        "RASA_TELEMETRY_ENABLED": "false",
        "TF_CPP_MIN_LOG_LEVEL": "2",
        "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
        "PYTHONWARNINGS": "ignore",
        "LOG_LEVEL_LIBRARIES": "ERROR",
        "TQDM_DISABLE": "1",
    })
    return env


def tracker_store_config(database_url: str) -> dict[str, object]:
    """Rasa's SQL tracker store on the assistant's own database (its own `events` table)."""
    url = urlparse(database_url)
    if url.scheme == "sqlite":
        return {"type": "SQL", "dialect": "sqlite", "db": database_url.removeprefix("sqlite:///")}
    if url.scheme.startswith("postgresql"):
        config: dict[str, object] = {
            "type": "SQL", "dialect": "postgresql", "url": url.hostname or "127.0.0.1",
            "port": url.port or 5432, "db": url.path.lstrip("/"),
        }
        if url.username:
            config["username"] = unquote(url.username)
        if url.password:
            config["password"] = unquote(url.password)
        return config
    raise ConfigurationError(f"unsupported DATABASE_URL for the tracker store: {url.scheme}")


def engine_config_dir(settings: Settings) -> Path:
    """Where this instance's Rasa endpoints.yml and credentials.yml live (beside its process table)."""
    return settings.run_dir / "rasa"


def write_engine_config(settings: Settings) -> tuple[Path, Path]:
    """Writes Rasa's endpoints.yml (action server, tracker store, lock store) and credentials.yml (channels)."""
    config_dir = engine_config_dir(settings)
    config_dir.mkdir(parents=True, exist_ok=True)
    endpoints: dict[str, object] = {
        "action_endpoint": {"url": f"{settings.action_url}/webhook"},
        "tracker_store": tracker_store_config(settings.database_url),
    }
    if settings.lock_store == "redis":
        redis = urlparse(settings.redis_url)
        endpoints["lock_store"] = {
            "type": "redis", "url": redis.hostname or "127.0.0.1", "port": redis.port or 6379,
            "db": int((redis.path or "/0").lstrip("/") or 0), "key_prefix": "bianmin",
        }
    endpoints_path, credentials_path = config_dir / "endpoints.yml", config_dir / "credentials.yml"
    endpoints_path.write_text(yaml.safe_dump(endpoints, allow_unicode=True), encoding="utf-8")
    # The gateway talks to its own channel (replies and state in one answer); REST stays for the benchmark.
    credentials_path.write_text(yaml.safe_dump({"rest": None, GATEWAY_CHANNEL: None}), encoding="utf-8")
    return endpoints_path, credentials_path
