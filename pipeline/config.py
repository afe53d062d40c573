"""Typed, validated settings loaded from ``qtx.yaml``.

The config is found from ``--config``, then ``$QTX_CONFIG``, then ``./qtx.yaml``.
Every error names the file, the key path and what was wrong (``ConfigError``); the CLI turns
it into exit code 2.  Secrets are never read from here: the config only names the
environment variables (or 0600 files) that hold them.

The sections are ``msgspec`` structs: every command loads the config, and msgspec's import and
class creation cost milliseconds where pydantic's (with building each field's schema) cost a
quarter to a third of a second of CPU.  They are read-only after load; ``replace`` makes a
checked copy with other values, ``as_dict`` gives them as plain data.
"""

# No ``from __future__ import annotations``: msgspec would compile and evaluate every field's
# annotation text at the first load (~5 ms); real annotations cost less once, at import.
import copy
import os
import re
import types
import typing
from collections.abc import Callable
from datetime import date
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

import msgspec
import yaml
from msgspec import Meta, field

from sennot.strategy import ParamError, StrategyError, create

DEFAULT_CONFIG_NAME = "qtx.yaml"


class ConfigError(Exception):
    """A config that cannot be used. ``str()`` names file, key and problem."""

    def __init__(self, file: str | Path | None, key: str | None, problem: str):
        # No file: a setting from elsewhere (QTX_NOW, a secret file), named by its key alone.
        self.file = str(file) if file is not None else None
        self.key = key
        self.problem = problem
        where = ": ".join(w for w in (self.file, key) if w) or "config"
        super().__init__(f"{where}: {problem}")


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    # Field name -> what to do with its YAML value before the types are checked: return the
    # value to check (e.g. a KRX code read as a number, as text) or raise ValueError naming
    # the bad value.  Run by ``_validate`` (msgspec checks types before ``__post_init__``).
    _before: ClassVar[dict[str, Callable[[Any], Any]]] = {}


def _code(x: Any) -> Any:
    return str(x) if isinstance(x, int) and not isinstance(x, bool) else x


def _codes(v: Any) -> Any:
    # KRX codes such as 005930 must stay text even when YAML reads them as numbers.
    return [_code(x) for x in v] if isinstance(v, list) else v


def _code_keys(v: Any) -> Any:
    return {_code(k): x for k, x in v.items()} if isinstance(v, dict) else v


class Universe(_Strict):
    symbols: list[str] = field(default_factory=list)
    exclude: list[str] = field(default_factory=list)
    min_price: Annotated[float, Meta(ge=0)] | None = None
    min_avg_value: Annotated[float, Meta(ge=0)] | None = None
    # Sector of a symbol, overriding what the feed says (Kiwoom's industry; ETFs have none).
    sectors: dict[str, str] = field(default_factory=dict)

    _before = {"symbols": _codes, "exclude": _codes, "sectors": _code_keys}


class Costs(_Strict):
    commission: Annotated[float, Meta(ge=0, lt=0.1)] = 0.00015
    sell_tax: Annotated[float, Meta(ge=0, lt=0.1)] | None = None  # None: the market's default
    # KRX: the securities transaction tax by the year of settlement (T+2), e.g. {2025: 0.0015,
    # 2026: 0.0020}; used to check the tax Kiwoom charges.  Empty: ``sell_tax`` every year.
    sell_tax_by_year: dict[int, float] = field(default_factory=dict)
    slippage_bps: Annotated[float, Meta(ge=0, lt=1000)] = 0.0


class Risk(_Strict):
    max_positions: Annotated[int, Meta(ge=1, le=1000)] = 8
    sector_cap: Annotated[float, Meta(gt=0, le=1)] = 0.40
    daily_loss_limit: Annotated[float, Meta(gt=-1, le=0)] = -0.03
    drawdown_limit: Annotated[float, Meta(gt=-1, le=0)] = -0.10
    drawdown_size_multiplier: Annotated[float, Meta(gt=0, le=1)] = 0.5
    # Live mode only: no single order may exceed this notional (in the quote currency).
    max_order_notional: Annotated[float, Meta(gt=0)] | None = None


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
    params: dict[str, Any] = field(default_factory=dict)


def _stages(v: Any) -> Any:
    from pipeline.schedule.calendar import STAGES

    bad = [x for x in v if isinstance(x, str) and x not in STAGES] if isinstance(v, list) else []
    if bad:
        raise ValueError(f"unknown stage(s) {', '.join(map(repr, bad))} (stages: {', '.join(STAGES)})")
    return v


class Telegram(_Strict):
    token_env: str = "QTX_TELEGRAM_TOKEN"
    token_file: str | None = None  # a 0600 file holding the token, instead of the variable
    allowed_chat_ids: list[int] = field(default_factory=list)
    allowed_user_ids: list[int] = field(default_factory=list)
    base_url: str | None = None
    stale_command_seconds: Annotated[int, Meta(ge=0)] = 300
    heartbeat_grace_minutes: Annotated[int, Meta(ge=1)] = 30
    heartbeat_check_seconds: Annotated[int, Meta(ge=5)] = 60
    # Stages whose scheduled slots (launchd.schedule) the listener watches for lateness;
    # null: every scheduled stage; []: none (failed runs are alerted regardless).
    watch_stages: list[str] | None = None
    poll_timeout: Annotated[int, Meta(ge=0, le=50)] = 30  # getUpdates long-poll seconds
    outbox_poll_seconds: Annotated[float, Meta(ge=0.1, le=300)] = 2.0
    max_send_attempts: Annotated[int, Meta(ge=1)] = 8  # then the message is marked failed

    _before = {"base_url": _url, "watch_stages": _stages}


class Bybit(_Strict):
    category: Literal["spot", "linear"] = "spot"
    network: Literal["mainnet", "testnet", "demo"] = "mainnet"
    endpoint: str | None = None
    api_key_env: str = "QTX_BYBIT_KEY"
    api_secret_env: str = "QTX_BYBIT_SECRET"
    interval: Literal["1", "3", "5", "15", "30", "60", "120", "240", "360", "720", "D", "W", "M"] = "D"
    quote_coin: str = "USDT"
    top_n: Annotated[int, Meta(ge=1, le=500)] = 20
    recv_window: Annotated[int, Meta(ge=1000, le=60000)] = 5000
    timeout: Annotated[float, Meta(gt=0)] = 10.0

    _before = {"endpoint": _url}


class Kiwoom(_Strict):
    network: Literal["real", "mock"] = "real"  # api.kiwoom.com | mockapi.kiwoom.com (mock trading)
    endpoint: str | None = None  # full base URL; overrides network (e.g. a local server)
    appkey_env: str = "QTX_KIWOOM_APPKEY"
    secretkey_env: str = "QTX_KIWOOM_SECRETKEY"
    exchange: Literal["KRX", "NXT", "SOR"] = "KRX"  # dmst_stex_tp
    timeout: Annotated[float, Meta(gt=0)] = 10.0
    # Seconds between two requests of one API id (Kiwoom allows about 5 a second per login and
    # fewer per API id; mock trading about 1 a second).
    min_interval: Annotated[float, Meta(ge=0, le=10)] = 0.25

    _before = {"endpoint": _url}


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


# Checked here, at load, so a typo stops every command instead of the first stage that reads
# the calendar (pipeline.schedule.calendar parses the same values again).
def _holidays(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise ValueError("must be a list of YYYY-MM-DD dates")
    return [_iso_date(x) for x in v]


def _late_open(v: Any) -> dict[str, str]:
    if not isinstance(v, dict):
        raise ValueError("must be a mapping of YYYY-MM-DD date to HH:MM opening time")
    out = {}
    for k, t in v.items():
        try:
            out[_iso_date(k)] = _hh_mm(t)
        except ValueError as e:
            raise ValueError(f"{k}: {e}") from None
    return out


class Calendar(_Strict):
    # One-off closures (YYYY-MM-DD) beyond the holidays package's XKRX calendar.
    extra_holidays: list[str] = field(default_factory=list)
    # Late opens: date -> "HH:MM" (e.g. the CSAT day opens at 10:00).
    late_open: dict[str, str] = field(default_factory=dict)

    _before = {"extra_holidays": _holidays, "late_open": _late_open}


class Mcp(_Strict):
    # ``qtx mcp``: the pause_buys / resume_buys tools exist only when this is true.
    allow_control: bool = False


class Settings(_Strict):
    market: Literal["krx", "bybit"] = "krx"
    mode: Literal["paper", "live"] = "paper"
    capital: Annotated[float, Meta(gt=0)] = 100_000_000
    database: str | None = None
    profile: str | None = None
    profiles: dict[str, dict[str, Any]] = field(default_factory=dict)
    universe: Universe = field(default_factory=Universe)
    costs: Costs = field(default_factory=Costs)
    risk: Risk = field(default_factory=Risk)
    strategy: StrategyConf = field(default_factory=StrategyConf)
    telegram: Telegram = field(default_factory=Telegram)
    bybit: Bybit = field(default_factory=Bybit)
    kiwoom: Kiwoom = field(default_factory=Kiwoom)
    calendar: Calendar = field(default_factory=Calendar)
    mcp: Mcp = field(default_factory=Mcp)

    # Not part of the YAML (``from_dict`` refuses it there): where the file was, so relative
    # paths resolve against it.
    config_path: str | None = None

    def __post_init__(self) -> None:
        if self.costs.sell_tax is None:
            tax = 0.0020 if self.market == "krx" else 0.0
            msgspec.structs.force_setattr(self, "costs", msgspec.structs.replace(self.costs, sell_tax=tax))
        if self.mode == "live" and self.risk.max_order_notional is None:
            # Live money needs a per-order ceiling: a sizing bug must not become a huge order.
            # (Not a ValueError: msgspec would reword it; _validate adds the file.)
            raise ConfigError(None, "risk.max_order_notional",
                              "required in live mode (the largest notional one order may have)")

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


_NOT_YAML = frozenset({"config_path"})


def _merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        if isinstance(v, dict) and isinstance(out.get(k), dict):
            out[k] = _merge(out[k], v)
        else:
            out[k] = copy.deepcopy(v)
    return out


# --------------------------------------------------------------------------- checking

_Section = TypeVar("_Section", bound=_Strict)
_SECTIONS: dict[type, dict[str, type[_Strict]]] = {}


def _sections(cls: type[_Strict]) -> dict[str, type[_Strict]]:
    """Field name -> section struct of the fields of ``cls`` that hold one."""
    if cls not in _SECTIONS:
        _SECTIONS[cls] = {f.name: f.type for f in msgspec.structs.fields(cls)
                          if isinstance(f.type, type) and issubclass(f.type, _Strict)}
    return _SECTIONS[cls]


def _prepare(cls: type[_Strict], raw: dict) -> dict:
    """``raw`` with the ``_before`` of ``cls`` and of its sections applied."""
    out = dict(raw)
    for name, before in cls._before.items():
        if name in out:
            try:
                out[name] = before(out[name])
            except ValueError as e:
                raise ConfigError(None, name, str(e)) from None
    for name, sub in _sections(cls).items():
        if isinstance(out.get(name), dict):
            try:
                out[name] = _prepare(sub, out[name])
            except ConfigError as e:
                raise ConfigError(None, f"{name}.{e.key}", e.problem) from None
    return out


def _validate(cls: type[_Section], raw: dict, file: Any, prefix: str = "") -> _Section:
    """``raw`` as a ``cls``, or a ConfigError naming ``file`` and the key (under ``prefix``)."""
    try:
        prepared = _prepare(cls, raw)
        # strict=False: "0.5" for a number and "2025" for a year key, as YAML users may quote.
        return msgspec.convert(prepared, cls, strict=False)
    except msgspec.ValidationError as err:
        key, problem = _explain(cls, prepared, str(err))
    except ConfigError as err:  # from _prepare or Settings.__post_init__
        key, problem = err.key, err.problem
    raise ConfigError(file, ".".join(p for p in (prefix, key) if p) or None, problem)


# msgspec's message: "<what> - at `$.risk.max_positions`" (`$.x[0]` a list item, `$.x[...]` a
# mapping's value, "at `key` in `$.x`" a mapping's key).
_AT = r"(?s)(.*?)(?: - at (`key` in )?`\$(.*)`)?"
_BOUNDS = (("ge", "greater than or equal to", lambda v, b: v >= b), ("gt", "greater than", lambda v, b: v > b),
           ("le", "less than or equal to", lambda v, b: v <= b), ("lt", "less than", lambda v, b: v < b))


def _explain(cls: type[_Strict], raw: dict, message: str) -> tuple[str | None, str]:
    """(key path, problem) of msgspec's first error, the problem worded from the declared type
    and the value found in ``raw`` ("must be less than or equal to 1 (got 1.5)")."""
    what, in_key, where = re.fullmatch(_AT, message).groups()
    where = where or ""
    segments = [a or b for a, b in re.findall(r"\.([^.\[]+)|\[([^\]]*)\]", where)]
    try:
        tp, value, path = cls, raw, []
        for seg in segments:
            tp, value, seg = _child(tp, value, seg)
            path.append(str(seg))
        unknown = re.match(r"Object contains unknown field `(.+)`", what)
        if unknown:
            return ".".join([*path, unknown.group(1)]), "unknown key"
        if in_key:  # which key msgspec does not say: the first that does not fit
            key_tp = _unwrap(tp)[0].__args__[0]
            bad = next(k for k in value if _problem(key_tp, k))
            return ".".join(path), f"key {_show(bad)} must be {_describe(key_tp)}"
        return ".".join(path) or None, _problem(tp, value) or what
    except (LookupError, TypeError, ValueError, AttributeError, StopIteration):  # said as msgspec says it
        return ".".join(s for s in segments) or None, what


def _child(tp: Any, value: Any, seg: str) -> tuple[Any, Any, Any]:
    """The declared type, the value and the key of ``seg`` inside ``tp`` / ``value``."""
    tp = _unwrap(tp)[0]
    if isinstance(tp, type) and issubclass(tp, msgspec.Struct):
        return typing.get_type_hints(tp, include_extras=True)[seg], value.get(seg), seg
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is list:
        return args[0], value[int(seg)], int(seg)
    if origin is dict:
        if seg == "...":  # msgspec does not say which: the first value that does not fit
            seg = next(k for k, v in value.items() if _problem(args[1], v))
        return args[1], value[seg], seg
    raise LookupError(seg)


def _unwrap(tp: Any) -> tuple[Any, list[Meta], bool]:
    """(type, its constraints, whether null is allowed) of a declared type."""
    metas: list[Meta] = []
    nullable = False
    while True:
        origin = typing.get_origin(tp)
        if origin is Annotated:
            metas += [m for m in tp.__metadata__ if isinstance(m, Meta)]
            tp = tp.__origin__
        elif origin in (typing.Union, types.UnionType) and len(args := typing.get_args(tp)) == 2 and type(None) in args:
            nullable = True
            tp = args[0] if args[1] is type(None) else args[1]
        else:
            return tp, metas, nullable


def _problem(tp: Any, value: Any) -> str | None:
    """What is wrong with ``value`` for the declared type ``tp``, or None if it fits."""
    try:
        msgspec.convert(value, tp, strict=False)
        return None
    except msgspec.ValidationError:
        pass
    base, metas, nullable = _unwrap(tp)
    got = f" (got {_show(value)})"
    if typing.get_origin(base) is Literal:
        options = [repr(a) for a in typing.get_args(base)] + (["null"] if nullable else [])
        return f"must be {', '.join(options[:-1])} or {options[-1]}{got}"
    try:
        v = msgspec.convert(value, base, strict=False)
    except msgspec.ValidationError:
        return f"must be {_describe(base)}{' or null' if nullable else ''}{got}"
    for meta in metas:
        for attr, words, ok in _BOUNDS:
            bound = getattr(meta, attr)
            if bound is not None and not ok(v, bound):
                return f"must be {words} {bound:g}{got}"
    return None


def _describe(tp: Any) -> str:
    simple = {bool: "true or false", int: "a whole number", float: "a number", str: "text"}
    if tp in simple:
        return simple[tp]
    origin = typing.get_origin(tp)
    if origin is list:
        return "a list"
    if origin is dict or (isinstance(tp, type) and issubclass(tp, msgspec.Struct)):
        return "a mapping of keys"
    return f"a {tp}"


def _show(v: Any) -> str:
    return "null" if v is None else repr(v)  # null as the YAML says it


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


def _refuse_not_yaml(file: Any, raw: dict, prefix: str = "") -> None:
    if bad := sorted(_NOT_YAML & raw.keys()):
        raise ConfigError(file, f"{prefix}{bad[0]}", "unknown key")


def from_dict(raw: dict[str, Any] | None, file: str | Path | None = None) -> Settings:
    """Validate a raw mapping (as read from YAML) into ``Settings``, applying the profile."""
    if raw is not None and not isinstance(raw, dict):
        raise ConfigError(file, None, "the top level must be a mapping of keys")
    raw = dict(raw or {})
    _refuse_not_yaml(file, raw)
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
        _refuse_not_yaml(file, over, f"profiles.{name}.")
        merged = _validate(Settings, _merge({k: v for k, v in raw.items() if k not in ("profile", "profiles")}, over),
                           file, prefix=f"profiles.{name}")
        if "strategy" in over:  # else a mistake in the base would be blamed on the profile
            _check_strategy(file, merged, prefix=f"profiles.{name}.")
    effective = raw
    if profile is not None:
        if profile not in profiles:
            known = ", ".join(sorted(profiles)) or "none defined"
            raise ConfigError(file, "profile", f"unknown profile {profile!r} (profiles: {known})")
        effective = _merge(raw, profiles[profile])
    s = _validate(Settings, {**effective, "config_path": str(file) if file is not None else None}, file)
    _check_strategy(file, s)
    return s


def replace(obj: _Section, **changes: Any) -> _Section:
    """A copy of ``Settings`` or one of its sections with ``changes``, checked as at load
    (``ConfigError``): config objects are read-only, so code that needs other settings (a test
    turning paper into live) makes a copy. Sections may be given as structs or mappings."""
    raw = {**msgspec.to_builtins(obj), **msgspec.to_builtins(changes)}
    file = obj.config_path if isinstance(obj, Settings) else None
    new = _validate(type(obj), raw, file)
    if isinstance(new, Settings):
        _check_strategy(file, new)
    return new


def as_dict(obj: _Strict) -> dict[str, Any]:
    """``Settings`` (or a section) as plain data, as YAML holds it: ``from_dict`` of it gives
    the same settings (``config_path`` aside)."""
    d = msgspec.to_builtins(obj)
    for k in _NOT_YAML:
        d.pop(k, None)
    return d


def yaml_keys(cls: type[_Strict]) -> list[tuple[str, Any, type[_Strict] | None]]:
    """``(name, default, section)`` of each YAML key of ``cls``, in order; ``section`` is the
    struct the key holds, else None (``qtx init`` writes the template from these)."""
    out = []
    for f in msgspec.structs.fields(cls):
        if f.name in _NOT_YAML:
            continue
        default = f.default if f.default_factory is msgspec.NODEFAULT else f.default_factory()
        out.append((f.name, default, _sections(cls).get(f.name)))
    return out


class _UniqueKeys:
    """A SafeLoader that refuses a key given twice in one mapping (PyYAML silently keeps the
    last, which would quietly drop a whole section such as a second ``risk:``)."""

    def construct_mapping(self, node, deep=False):
        seen: set = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


class _PyLoader(_UniqueKeys, yaml.SafeLoader):
    """The pure-Python parser: its messages name the bad character (a tab, say); libyaml's
    do not, so a config that fails is read again with this one for the message."""


# libyaml's parser when PyYAML has it: the pure-Python one takes ~15 ms of CPU for the config
# `qtx init` writes, libyaml ~0.1 ms.  The values are built by the same SafeConstructor and
# resolvers (the same results: tests/test_config.py compares them).
_Loader = type("_Loader", (_UniqueKeys, yaml.CSafeLoader), {}) if hasattr(yaml, "CSafeLoader") else _PyLoader

# YAML 1.1 reads a bare 000660 as the octal number 432 (and 005930 as the decimal 5930): a KRX
# code would silently become another symbol.  A number written with a leading zero stays text;
# other integers (and 0, and 0x.. hex) resolve as usual.
_INT_TAG = "tag:yaml.org,2002:int"


def _keep_leading_zeros(loader: type) -> None:
    loader.yaml_implicit_resolvers = {
        ch: [(tag, rx) for tag, rx in resolvers if tag != _INT_TAG]
        for ch, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }
    loader.add_implicit_resolver(
        _INT_TAG,
        re.compile(r"^(?:[-+]?(?:0|[1-9][0-9_]*)|[-+]?0x[0-9a-fA-F_]+|[-+]?[1-9][0-9_]*(?::[0-5]?[0-9])+)$"),
        list("-+0123456789"),
    )


_keep_leading_zeros(_PyLoader)
if _Loader is not _PyLoader:
    _keep_leading_zeros(_Loader)


def _parse_yaml(text: str) -> Any:
    try:
        return yaml.load(text, Loader=_Loader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        first = err
    try:
        yaml.load(text, Loader=_PyLoader)  # noqa: S506 - a SafeLoader
    except yaml.YAMLError as err:
        first = err
    raise first


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
        raw = _parse_yaml(text)
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
