"""Typed, validated settings loaded from ``qtx.yaml``.

The config is found from ``--config``, then ``$QTX_CONFIG``, then ``./qtx.yaml``.
Every error names the file, the key path and what was wrong (``ConfigError``); the CLI turns
it into exit code 2.  Secrets are never read from here: the config only names the
environment variables (or 0600 files) that hold them.
"""

from __future__ import annotations

import copy
import os
import re
from datetime import date
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from sennot.strategy import ParamError, StrategyError, create

DEFAULT_CONFIG_NAME = "qtx.yaml"


class ConfigError(Exception):
    """A config that cannot be used. ``str()`` names file, key and problem."""

    def __init__(self, file: str | Path | None, key: str | None, problem: str):
        self.file = str(file) if file is not None else "<config>"
        self.key = key
        self.problem = problem
        where = f"{self.file}: {key}" if key else self.file
        super().__init__(f"{where}: {problem}")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Universe(_Strict):
    symbols: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    min_price: float | None = Field(default=None, ge=0)
    min_avg_value: float | None = Field(default=None, ge=0)
    # Sector of a symbol, overriding what the feed says (Kiwoom's industry; ETFs have none).
    sectors: dict[str, str] = Field(default_factory=dict)

    @field_validator("symbols", "exclude", "sectors", mode="before")
    @classmethod
    def _as_text(cls, v: Any) -> Any:
        # KRX codes such as 005930 must stay text even when YAML reads them as numbers.
        if isinstance(v, list):
            return [str(x) for x in v]
        if isinstance(v, dict):
            return {str(k): v2 for k, v2 in v.items()}
        return v


class Costs(_Strict):
    commission: float = Field(default=0.00015, ge=0, lt=0.1)
    sell_tax: float | None = Field(default=None, ge=0, lt=0.1)  # None: the market's default
    # KRX: the securities transaction tax by the year of settlement (T+2), e.g. {2025: 0.0015,
    # 2026: 0.0020}; used to check the tax Kiwoom charges.  Empty: ``sell_tax`` every year.
    sell_tax_by_year: dict[int, float] = Field(default_factory=dict)
    slippage_bps: float = Field(default=0.0, ge=0, lt=1000)


class Risk(_Strict):
    max_positions: int = Field(default=8, ge=1, le=1000)
    sector_cap: float = Field(default=0.40, gt=0, le=1)
    daily_loss_limit: float = Field(default=-0.03, gt=-1, le=0)
    drawdown_limit: float = Field(default=-0.10, gt=-1, le=0)
    drawdown_size_multiplier: float = Field(default=0.5, gt=0, le=1)
    # Live mode only: no single order may exceed this notional (in the quote currency).
    max_order_notional: float | None = Field(default=None, gt=0)


def _url(v: Any) -> Any:
    """An http(s) base URL or None: a typo such as ``localhost:8080`` fails at load, not at the
    first request hours later."""
    if v is None:
        return v
    if not isinstance(v, str) or not re.match(r"https?://[^/\s]+", v):
        raise ValueError(f"{v!r} is not an http:// or https:// URL")
    return v


class StrategyConf(_Strict):
    name: str = "sennot"
    params: dict[str, Any] = Field(default_factory=dict)


class Telegram(_Strict):
    token_env: str = "QTX_TELEGRAM_TOKEN"
    token_file: str | None = None  # a 0600 file holding the token, instead of the variable
    allowed_chat_ids: list[int] = Field(default_factory=list)
    allowed_user_ids: list[int] = Field(default_factory=list)
    base_url: str | None = None
    stale_command_seconds: int = Field(default=300, ge=0)
    heartbeat_grace_minutes: int = Field(default=30, ge=1)
    heartbeat_check_seconds: int = Field(default=60, ge=5)
    # Stages whose scheduled slots (launchd.schedule) the listener watches for lateness;
    # null: every scheduled stage; []: none (failed runs are alerted regardless).
    watch_stages: list[str] | None = None
    poll_timeout: int = Field(default=30, ge=0, le=50)  # getUpdates long-poll seconds
    outbox_poll_seconds: float = Field(default=2.0, ge=0.1, le=300)
    max_send_attempts: int = Field(default=8, ge=1)  # then the message is marked failed

    _base_url = field_validator("base_url")(classmethod(lambda cls, v: _url(v)))

    @field_validator("watch_stages")
    @classmethod
    def _stages(cls, v: list[str] | None) -> list[str] | None:
        from pipeline.schedule.calendar import STAGES

        bad = [x for x in v or [] if x not in STAGES]
        if bad:
            raise ValueError(f"unknown stage(s) {', '.join(map(repr, bad))} (stages: {', '.join(STAGES)})")
        return v


class Bybit(_Strict):
    category: Literal["spot", "linear"] = "spot"
    network: Literal["mainnet", "testnet", "demo"] = "mainnet"
    endpoint: str | None = None
    api_key_env: str = "QTX_BYBIT_KEY"
    api_secret_env: str = "QTX_BYBIT_SECRET"
    interval: Literal["1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M"] = "D"
    quote_coin: str = "USDT"
    top_n: int = Field(default=20, ge=1, le=500)
    recv_window: int = Field(default=5000, ge=1000, le=60000)
    timeout: float = Field(default=10.0, gt=0)

    _endpoint = field_validator("endpoint")(classmethod(lambda cls, v: _url(v)))


class Kiwoom(_Strict):
    network: Literal["real", "mock"] = "real"  # api.kiwoom.com | mockapi.kiwoom.com (mock trading)
    endpoint: str | None = None  # full base URL; overrides network (e.g. a local server)
    appkey_env: str = "QTX_KIWOOM_APPKEY"
    secretkey_env: str = "QTX_KIWOOM_SECRETKEY"
    exchange: Literal["KRX", "NXT", "SOR"] = "KRX"  # dmst_stex_tp
    timeout: float = Field(default=10.0, gt=0)
    # Seconds between two requests of one API id (Kiwoom allows about 5 a second per login and
    # fewer per API id; mock trading about 1 a second).
    min_interval: float = Field(default=0.25, ge=0, le=10)

    _endpoint = field_validator("endpoint")(classmethod(lambda cls, v: _url(v)))


def _iso_date(v: Any) -> str:
    """A real YYYY-MM-DD date as text (YAML may already have read it as a date)."""
    if isinstance(v, date):
        return v.isoformat()
    try:
        if isinstance(v, str) and len(v) == 10:
            return date.fromisoformat(v).isoformat()
    except ValueError as e:
        raise ValueError(f"{v!r} is not a real date ({e})") from None
    raise ValueError(f"{v!r} is not a YYYY-MM-DD date")


def _hh_mm(v: Any) -> str:
    # YAML 1.1 reads an unquoted 10:00 as the sexagesimal number 600: take it back as minutes.
    if isinstance(v, int) and not isinstance(v, bool) and 0 <= v < 24 * 60:
        v = f"{v // 60:02d}:{v % 60:02d}"
    if isinstance(v, str) and re.fullmatch(r"\d{1,2}:\d{2}", v):
        h, m = (int(x) for x in v.split(":"))
        if h < 24 and m < 60:
            return f"{h:02d}:{m:02d}"
    raise ValueError(f"{v!r} is not an HH:MM time")


class Calendar(_Strict):
    # One-off closures (YYYY-MM-DD) beyond the holidays package's XKRX calendar.
    extra_holidays: list[str] = Field(default_factory=list)
    # Late opens: date -> "HH:MM" (e.g. the CSAT day opens at 10:00).
    late_open: dict[str, str] = Field(default_factory=dict)

    # Checked here, at load, so a typo stops every command instead of the first stage that
    # reads the calendar (pipeline.schedule.calendar parses the same values again).
    @field_validator("extra_holidays", mode="before")
    @classmethod
    def _holidays(cls, v: Any) -> Any:
        if not isinstance(v, list):
            raise ValueError("must be a list of YYYY-MM-DD dates")
        return [_iso_date(x) for x in v]

    @field_validator("late_open", mode="before")
    @classmethod
    def _late_open(cls, v: Any) -> Any:
        if not isinstance(v, dict):
            raise ValueError("must be a mapping of YYYY-MM-DD date to HH:MM opening time")
        out = {}
        for k, t in v.items():
            try:
                out[_iso_date(k)] = _hh_mm(t)
            except ValueError as e:
                raise ValueError(f"{k}: {e}") from None
        return out


class Mcp(_Strict):
    # ``qtx mcp``: the pause_buys / resume_buys tools exist only when this is true.
    allow_control: bool = False


class Settings(_Strict):
    market: Literal["krx", "bybit"] = "krx"
    mode: Literal["paper", "live"] = "paper"
    capital: float = Field(default=100_000_000, gt=0)
    database: str | None = None
    profile: str | None = None
    profiles: dict[str, dict[str, Any]] = Field(default_factory=dict)
    universe: Universe = Field(default_factory=Universe)
    costs: Costs = Field(default_factory=Costs)
    risk: Risk = Field(default_factory=Risk)
    strategy: StrategyConf = Field(default_factory=StrategyConf)
    telegram: Telegram = Field(default_factory=Telegram)
    bybit: Bybit = Field(default_factory=Bybit)
    kiwoom: Kiwoom = Field(default_factory=Kiwoom)
    calendar: Calendar = Field(default_factory=Calendar)
    mcp: Mcp = Field(default_factory=Mcp)

    # Not part of the YAML: where the file was, so relative paths resolve against it.
    model_config = ConfigDict(extra="forbid")
    config_path: str | None = Field(default=None, exclude=True)

    @model_validator(mode="after")
    def _market_defaults(self) -> Settings:
        if self.costs.sell_tax is None:
            self.costs.sell_tax = 0.0020 if self.market == "krx" else 0.0
        if self.mode == "live" and self.risk.max_order_notional is None:
            # Live money needs a per-order ceiling: a sizing bug must not become a huge order.
            raise ValueError("risk.max_order_notional: required in live mode (the largest notional "
                             "one order may have)")
        return self

    @property
    def base_dir(self) -> Path:
        return Path(self.config_path).resolve().parent if self.config_path else Path.cwd()

    @property
    def db_path(self) -> Path:
        if self.database:
            p = Path(self.database).expanduser()
            return p if p.is_absolute() else self.base_dir / p
        return self.base_dir / "data" / f"qtx-{self.market}-{self.mode}.sqlite"

    def resolve(self, path: str | Path) -> Path:
        p = Path(path).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


def _first_error(file: Any, err: ValidationError, prefix: str = "") -> ConfigError:
    e = err.errors()[0]
    key = ".".join(str(p) for p in e["loc"]) or None
    if prefix:
        key = f"{prefix}.{key}" if key else prefix
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    elif e["type"] == "value_error" and "error" in e.get("ctx", {}):
        msg = str(e["ctx"]["error"])  # our validators name the bad value themselves
    elif "input" in e and e["type"] not in ("missing",):
        msg = f"{msg} (got {e['input']!r})"
    more = len(err.errors()) - 1
    if more:
        msg += f" (and {more} more problem{'s' if more > 1 else ''})"
    return ConfigError(file, key, msg)


def _check_strategy(file: Any, s: Settings, prefix: str = "") -> None:
    """The strategy judges its own name and params: build it once, so a typo fails every
    command at load, naming the key."""
    key = f"{prefix}strategy"
    try:
        create(s.strategy.name, s.strategy.params)
    except StrategyError as e:
        raise ConfigError(file, f"{key}.name", str(e)) from None
    except ParamError as e:
        raise ConfigError(file, f"{key}.params.{e.param}" if e.param else f"{key}.params", e.problem) from None
    except (ValueError, TypeError) as e:  # a plugin's factory that does not name the parameter
        raise ConfigError(file, f"{key}.params", f"refused by strategy {s.strategy.name}: {e}") from None


def from_dict(raw: dict[str, Any] | None, file: str | Path | None = None) -> Settings:
    """Validate a raw mapping (as read from YAML) into ``Settings``, applying the profile."""
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(file, None, "the top level must be a mapping of keys")
    raw = dict(raw or {})
    profile = raw.get("profile")
    profiles = raw.get("profiles") or {}
    if not isinstance(profiles, dict):
        raise ConfigError(file, "profiles", "must be a mapping of profile name to overrides")
    # Every profile must be valid on its own, so a typo is caught before the day it is selected.
    for name, over in profiles.items():
        if not isinstance(over, dict):
            raise ConfigError(file, f"profiles.{name}", "must be a mapping of overrides")
        if "profiles" in over or "profile" in over:
            raise ConfigError(file, f"profiles.{name}", "a profile cannot select or define profiles")
        try:
            merged = Settings.model_validate(_merge({k: v for k, v in raw.items() if k not in ("profile", "profiles")}, over))
        except ValidationError as err:
            raise _first_error(file, err, prefix=f"profiles.{name}") from None
        if "strategy" in over:  # else a mistake in the base would be blamed on the profile
            _check_strategy(file, merged, prefix=f"profiles.{name}.")
    effective = raw
    if profile is not None:
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none defined"
            raise ConfigError(file, "profile", f"unknown profile {profile!r} (profiles: {known})")
        effective = _merge(raw, profiles[profile])
    try:
        s = Settings.model_validate(effective)
    except ValidationError as err:
        raise _first_error(file, err) from None
    _check_strategy(file, s)
    s.config_path = str(file) if file is not None else None
    return s


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML silently keeps the last,
    which would quietly drop a whole section such as a second ``risk:``)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


# YAML 1.1 reads a bare 000660 as the octal number 432 (and 005930 as the decimal 5930): a KRX
# code would silently become another symbol.  A number written with a leading zero stays text;
# other integers (and 0, and 0x.. hex) resolve as usual.
_INT_TAG = "tag:yaml.org,2002:int"
_UniqueKeyLoader.yaml_implicit_resolvers = {
    ch: [(tag, rx) for tag, rx in resolvers if tag != _INT_TAG]
    for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_UniqueKeyLoader.add_implicit_resolver(
    _INT_TAG,
    re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"),
    list("-+0123456789"),
)


def find_config(explicit: str | Path | None = None) -> Path:
    if explicit:
        return Path(explicit)
    env = os.environ.get("QTX_CONFIG")
    if env:
        return Path(env)
    return Path.cwd() / DEFAULT_CONFIG_NAME


def load(explicit: str | Path | None = None) -> Settings:
    path = find_config(explicit)
    if not path.exists():
        raise ConfigError(path, None, "config file not found (run `qtx init` to write one, or pass --config)")
    if path.is_dir():
        hint = " (that folder has a qtx.yaml: pass it)" if (path / DEFAULT_CONFIG_NAME).is_file() else ""
        raise ConfigError(path, None, f"is a folder, not a config file{hint}")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise ConfigError(path, None, "not a text file (not UTF-8): pass the qtx.yaml") from None
    except OSError as e:
        raise ConfigError(path, None, f"cannot be read: {e.strerror}") from None
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        raise ConfigError(path, None, f"not valid YAML: {where}{getattr(err, 'problem', err)}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(path, None, "the top level must be a mapping of keys")
    return from_dict(raw, path.resolve())


def read_secret(env_name: str, file: str | None = None, *, what: str) -> str | None:
    """A secret from the environment or a 0600 file; never from the config itself."""
    val = os.environ.get(env_name)
    if val:
        return val.strip()
    if file:
        p = Path(file).expanduser()
        if not p.exists():
            raise ConfigError(None, what, f"secret file {p} does not exist")
        mode = p.stat().st_mode & 0o777
        if mode & 0o077:
            raise ConfigError(None, what, f"secret file {p} must be mode 0600 (is {mode:o})")
        return p.read_text(encoding="utf-8").strip()
    return None
