"""Loading the service catalogue from its YAML files, and keeping it current while the assistant runs.

Staff edit the YAML files; `get_catalogue()` notices the change within a second
and answers from the new content without a restart or retraining. A broken edit
never takes the assistant down: the last good catalogue keeps answering and the
error, naming the file and the field, is logged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from bot.knowledge.schema import Centre, City, Service

log = logging.getLogger(__name__)

# The shipped knowledge base (data only); a deployment points KNOWLEDGE_BASE_DIR at its own.
KNOWLEDGE_BASE_DIR = Path(__file__).resolve().parent.parent.parent / "knowledge_base"
SERVICES_DIR_NAME = "services"
CENTRES_FILE = "centres.yml"
CITY_FILE = "city.yml"
KEYWORDS_FILE = "service_keywords.yml"

# The service ids of the public contract (vocabulary.yml): the real catalogue has exactly these.
CONTRACT_SERVICE_IDS = frozenset(
    {
        "social_security_card", "pension_qualification", "senior_allowance", "senior_card",
        "medical_reimbursement", "medical_transfer_registration", "residence_permit",
        "wage_arrears_complaint", "school_enrollment", "housing_fund_withdrawal", "id_card",
        "household_registration", "birth_registration", "minimum_living_allowance",
        "flexible_employment_insurance", "unemployment_benefit", "disability_certificate",
        "property_certificate", "business_license", "work_injury",
    }
)

# Weights of the keyword tiers in service_keywords.yml: how sure one phrase alone makes us.
KEYWORD_TIERS = {"strong": 0.8, "likely": 0.7, "hint": 0.6}

# The services most asked about, offered when a person has not named one clearly.
POPULAR_SERVICES = ("social_security_card", "residence_permit", "senior_allowance", "medical_reimbursement")

# The C loader parses the catalogue several times faster; both are safe loaders.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class CatalogueError(ValueError):
    """The catalogue cannot be loaded; `message` names the file and the field to fix."""

    code = "catalogue_invalid"

    def __init__(self, message: str, *, path: Path | None = None, field: str = ""):
        super().__init__(message)
        self.message = message
        self.path = path
        self.field = field


@dataclass(frozen=True)
class Keyword:
    """A descriptive phrase pointing at a service; `parts` must all occur in the message, in order."""

    phrase: str
    parts: tuple[str, ...]
    weight: float


@dataclass(frozen=True, eq=False)
class Catalogue:
    """The loaded catalogue: services and centres by id, the city, and descriptive keywords per service."""

    services: dict[str, Service]
    centres: dict[str, Centre]
    city: City
    keywords: dict[str, tuple[Keyword, ...]] = field(default_factory=dict)
    root: Path = KNOWLEDGE_BASE_DIR

    def service(self, service_id: str) -> Service | None:
        """The service with this id, or None."""
        return self.services.get(service_id)

    def centres_of(self, service_id: str) -> list[Centre]:
        """The centres where a service is handled, in the order the service lists them."""
        service = self.services.get(service_id)
        return [self.centres[c] for c in service.centres] if service else []


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
    except OSError as err:
        raise CatalogueError(f"{path}: cannot be read ({err.strerror})", path=path) from err
    except UnicodeDecodeError as err:
        raise CatalogueError(f"{path}: is not UTF-8 text", path=path) from err
    except yaml.YAMLError as err:
        where = getattr(err, "problem_mark", None)
        line = f" line {where.line + 1}" if where is not None else ""
        raise CatalogueError(f"{path}:{line} is not valid YAML: {getattr(err, 'problem', err)}", path=path) from err


def _describe(err: ValidationError, prefix: str = "") -> tuple[str, str]:
    """The first failing field's dotted path and every problem as one readable line."""
    problems = []
    first = ""
    for item in err.errors():
        location = ".".join(str(p) for p in (prefix, *item["loc"]) if p != "")
        first = first or location
        problems.append(f"{location or '(top level)'}: {item['msg']}")
    return first, "; ".join(problems)


def _validate(model: type[BaseModel], data: Any, path: Path, prefix: str = "") -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as err:
        location, problems = _describe(err, prefix)
        raise CatalogueError(f"{path}: {problems}", path=path, field=location) from err


def _load_services(directory: Path) -> dict[str, Service]:
    if not directory.is_dir():
        raise CatalogueError(f"{directory}: the services folder is missing", path=directory)
    services: dict[str, Service] = {}
    for path in sorted(directory.glob("*.yml")):
        data = _read_yaml(path)
        if not isinstance(data, dict):
            raise CatalogueError(f"{path}: must be a mapping of service fields", path=path)
        service = _validate(Service, data, path)
        if service.id != path.stem:
            raise CatalogueError(
                f"{path}: id '{service.id}' must equal the file name '{path.stem}'", path=path, field="id"
            )
        services[service.id] = service
    if not services:
        raise CatalogueError(f"{directory}: contains no service files (*.yml)", path=directory)
    return services


def _load_centres(path: Path) -> dict[str, Centre]:
    data = _read_yaml(path)
    if not isinstance(data, dict) or not isinstance(data.get("centres"), list):
        raise CatalogueError(f"{path}: must have a 'centres' list", path=path, field="centres")
    centres: dict[str, Centre] = {}
    for index, entry in enumerate(data["centres"]):
        centre = _validate(Centre, entry, path, prefix=f"centres.{index}")
        if centre.id in centres:
            raise CatalogueError(f"{path}: centre id '{centre.id}' appears twice", path=path, field=f"centres.{index}.id")
        centres[centre.id] = centre
    return centres


def _parse_keyword(text: Any, weight: float, path: Path, location: str) -> Keyword:
    if not isinstance(text, str) or not text.strip():
        raise CatalogueError(f"{path}: {location}: a keyword must be a non-empty string", path=path, field=location)
    from bot.understanding.normalise import normalise

    # The message is normalised before matching, so the phrase must be too (Traditional, full-width...).
    parts = tuple(p for p in (normalise(word) for word in text.split()) if p)
    if not parts:
        raise CatalogueError(f"{path}: {location}: '{text}' is empty once normalised", path=path, field=location)
    return Keyword(phrase=" ".join(parts), parts=parts, weight=weight)


def load_keywords(path: Path, service_ids: Iterable[str]) -> dict[str, tuple[Keyword, ...]]:
    """Descriptive keyword phrases per service from service_keywords.yml (empty when the file is absent)."""
    if not path.exists():
        return {}
    data = _read_yaml(path) or {}
    if not isinstance(data, dict):
        raise CatalogueError(f"{path}: must map service ids to keyword tiers", path=path)
    known = set(service_ids)
    keywords: dict[str, tuple[Keyword, ...]] = {}
    for service_id, tiers in data.items():
        if service_id not in known:
            raise CatalogueError(f"{path}: '{service_id}' is not a service of the catalogue", path=path, field=str(service_id))
        if not isinstance(tiers, dict):
            raise CatalogueError(
                f"{path}: {service_id}: must map tiers ({', '.join(KEYWORD_TIERS)}) to lists of phrases",
                path=path, field=str(service_id),
            )
        entries: list[Keyword] = []
        for tier, phrases in tiers.items():
            location = f"{service_id}.{tier}"
            if tier not in KEYWORD_TIERS:
                raise CatalogueError(
                    f"{path}: {location}: unknown tier, use one of {', '.join(KEYWORD_TIERS)}", path=path, field=location
                )
            if not isinstance(phrases, list):
                raise CatalogueError(f"{path}: {location}: must be a list of phrases", path=path, field=location)
            entries += [_parse_keyword(p, KEYWORD_TIERS[tier], path, f"{location}.{i}") for i, p in enumerate(phrases)]
        keywords[service_id] = tuple(entries)
    return keywords


def _check_references(services: dict[str, Service], centres: dict[str, Centre], root: Path) -> None:
    services_dir = root / SERVICES_DIR_NAME
    centres_path = root / CENTRES_FILE
    for service in services.values():
        for index, centre_id in enumerate(service.centres):
            path = services_dir / f"{service.id}.yml"
            if centre_id not in centres:
                raise CatalogueError(
                    f"{path}: centres.{index}: '{centre_id}' is not a centre of {centres_path.name}",
                    path=path, field=f"centres.{index}",
                )
            if service.id not in centres[centre_id].services:
                raise CatalogueError(
                    f"{centres_path}: centre '{centre_id}' must list '{service.id}' in its services, "
                    f"as {path.name} names it",
                    path=centres_path, field=f"{centre_id}.services",
                )
    for centre in centres.values():
        for service_id in centre.services:
            if service_id not in services:
                raise CatalogueError(
                    f"{centres_path}: centre '{centre.id}' lists '{service_id}', which has no file in {SERVICES_DIR_NAME}/",
                    path=centres_path, field=f"{centre.id}.services",
                )
            if centre.id not in services[service_id].centres:
                raise CatalogueError(
                    f"{services_dir / (service_id + '.yml')}: centres must include '{centre.id}', "
                    f"as {centres_path.name} lists this service there",
                    path=services_dir / f"{service_id}.yml", field="centres",
                )


def load_catalogue(root: Path = KNOWLEDGE_BASE_DIR, *, contract_ids: bool | None = None) -> Catalogue:
    """Loads and validates every file of the catalogue under `root`; raises CatalogueError naming file and field.

    `contract_ids` requires exactly the 20 service ids of the public contract; by
    default it applies to the catalogue shipped in this package.
    """
    root = Path(root)
    services = _load_services(root / SERVICES_DIR_NAME)
    centres = _load_centres(root / CENTRES_FILE)
    city = _validate(City, _read_yaml(root / CITY_FILE), root / CITY_FILE)
    _check_references(services, centres, root)
    if contract_ids is None:
        contract_ids = root.resolve() == KNOWLEDGE_BASE_DIR
    if contract_ids and set(services) != CONTRACT_SERVICE_IDS:
        missing = sorted(CONTRACT_SERVICE_IDS - set(services))
        extra = sorted(set(services) - CONTRACT_SERVICE_IDS)
        raise CatalogueError(
            f"{root / SERVICES_DIR_NAME}: the service ids must be exactly the contract's; "
            f"missing: {', '.join(missing) or 'none'}; not in the contract: {', '.join(extra) or 'none'}",
            path=root / SERVICES_DIR_NAME,
        )
    keywords = load_keywords(root / KEYWORDS_FILE, services)
    return Catalogue(services=services, centres=centres, city=city, keywords=keywords, root=root)


def catalogue_files(root: Path) -> list[Path]:
    """Every YAML file the catalogue is made of (whose change means a reload)."""
    return sorted([*root.glob("*.yml"), *(root / SERVICES_DIR_NAME).glob("*.yml")])


class CatalogueCache:
    """The current catalogue, reloaded when a YAML file under `root` changes; files are checked at most once per `interval` seconds."""

    def __init__(
        self,
        root: Path = KNOWLEDGE_BASE_DIR,
        *,
        interval: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
        contract_ids: bool | None = None,
    ):
        self.root = Path(root)
        self.interval = interval
        self.last_error: CatalogueError | None = None
        self._clock = clock
        self._contract_ids = contract_ids
        self._lock = threading.Lock()
        self._catalogue: Catalogue | None = None
        self._signature: tuple = ()
        self._checked_at = float("-inf")

    def _current_signature(self) -> tuple:
        signature = []
        for path in catalogue_files(self.root):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue  # removed between listing and stat: the next check sees the final state
            signature.append((path.name, stat.st_mtime_ns, stat.st_size))
        return tuple(signature)

    def get(self) -> Catalogue:
        """The catalogue as the files are now (at most `interval` seconds old)."""
        catalogue = self._catalogue
        if catalogue is not None and self._clock() - self._checked_at < self.interval:
            return catalogue
        with self._lock:
            if self._catalogue is not None and self._clock() - self._checked_at < self.interval:
                return self._catalogue
            signature = self._current_signature()
            if self._catalogue is None or signature != self._signature:
                self._reload(signature)
            self._checked_at = self._clock()
            return self._catalogue  # type: ignore[return-value]  # _reload has set it

    def _reload(self, signature: tuple) -> None:
        try:
            catalogue = load_catalogue(self.root, contract_ids=self._contract_ids)
        except CatalogueError as err:
            if self._catalogue is None:
                raise
            # Keep answering from the last good content; remember the signature so the error is logged once.
            if self.last_error is None or self.last_error.message != err.message:
                log.error("catalogue edit not applied, still answering from the previous version: %s", err.message)
            self.last_error = err
            self._signature = signature
            return
        if self._catalogue is not None:
            log.info("catalogue reloaded from %s (%d services)", self.root, len(catalogue.services))
        self._catalogue, self._signature, self.last_error = catalogue, signature, None


_default_cache: CatalogueCache | None = None
_default_lock = threading.Lock()


def default_cache() -> CatalogueCache:
    """The process-wide cache over the settings' knowledge base directory (KNOWLEDGE_BASE_DIR)."""
    global _default_cache
    if _default_cache is not None:
        return _default_cache
    with _default_lock:
        if _default_cache is None:
            from bot.settings import get_settings

            _default_cache = CatalogueCache(get_settings().knowledge_base_dir)
        return _default_cache


def get_catalogue() -> Catalogue:
    """The current catalogue; the same object until a file changes, so callers may cache what they derive from it."""
    return default_cache().get()
