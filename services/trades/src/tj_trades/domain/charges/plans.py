"""Brokerage plans of Indian brokers: per executed order, per charge class, plus a broker's billing habits.

The named plans (Zerodha, flat ₹20, zero) live in `data/brokerage_plans.toml`; an account may use
one of them or carry its own plan, stored with `plan_to_dict` / `plan_from_dict`.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from decimal import Decimal
from enum import StrEnum
from functools import cache
from importlib import resources
from types import MappingProxyType

from tj_trades.domain.charges.rounding import ZERO
from tj_trades.domain.charges.segments import ChargeClass

PLANS_RESOURCE = "data/brokerage_plans.toml"

_HUNDRED = Decimal(100)
_ONE = Decimal(1)


class SttRounding(StrEnum):
    """How the broker's contract note rounds STT, after summing it per scrip."""

    RUPEE_PER_SCRIP = "rupee_per_scrip"
    PAISA = "paisa"


@dataclass(frozen=True, slots=True)
class BrokerageRule:
    """Brokerage of one executed order: pct % of its turnover + flat, at most `cap`, at least `minimum`."""

    pct: Decimal = ZERO
    flat: Decimal = ZERO
    cap: Decimal | None = None
    minimum: Decimal = ZERO

    def __post_init__(self) -> None:
        for name in ("pct", "flat", "minimum"):
            if getattr(self, name) < 0:
                raise ValueError(f"brokerage {name} must not be negative")
        if self.cap is not None and self.cap < 0:
            raise ValueError("brokerage cap must not be negative")

    def charge(self, turnover: Decimal, share: Decimal = _ONE) -> Decimal:
        """Unrounded brokerage on `turnover`.

        `share` is the part of the executed order being priced, when one order is priced in parts
        (an order that was partly intraday, partly delivery): the per-order amounts (flat, cap and
        minimum) are scaled by it, so the parts of one order never cost more than one order.
        """
        amount = self.pct / _HUNDRED * turnover + self.flat * share
        if self.cap is not None:
            amount = min(amount, self.cap * share)
        return max(amount, self.minimum * share)


@dataclass(frozen=True, slots=True)
class BrokeragePlan:
    """A broker's brokerage rules and the habits of its contract notes."""

    name: str
    rules: Mapping[ChargeClass, BrokerageRule]
    stt_rounding: SttRounding = SttRounding.RUPEE_PER_SCRIP
    gst_on_ipft: bool = True
    # Before GST; None = the rate table's default DP charge.
    dp_charge_per_scrip: Decimal | None = None
    description: str = ""

    def __post_init__(self) -> None:
        missing = set(ChargeClass) - set(self.rules)
        if missing:
            raise ValueError(f"brokerage plan {self.name!r} has no rule for {sorted(missing)}")
        object.__setattr__(self, "rules", MappingProxyType(dict(self.rules)))

    def rule(self, charge_class: ChargeClass) -> BrokerageRule:
        return self.rules[charge_class]

    def with_rule(self, charge_class: ChargeClass, rule: BrokerageRule) -> BrokeragePlan:
        """A copy with one rule replaced: the per-account override of a named plan."""
        return replace(self, rules={**self.rules, charge_class: rule})


# --- (de)serialisation: the same shape as a plan in brokerage_plans.toml -------------------------


def _decimal(value: object, where: str) -> Decimal:
    if isinstance(value, bool | float):
        raise ValueError(f"{where}: expected an exact number (a string or Decimal), got {value!r}")
    if isinstance(value, int | Decimal | str):
        return Decimal(value)
    raise ValueError(f"{where}: expected a number, got {value!r}")


def _rule_from_dict(raw: object, where: str) -> BrokerageRule:
    if not isinstance(raw, Mapping):
        raise ValueError(f"{where}: expected a table")
    unknown = set(raw) - {"pct", "flat", "cap", "minimum"}
    if unknown:
        raise ValueError(f"{where}: unknown keys {sorted(unknown)}")
    cap = raw.get("cap")
    return BrokerageRule(
        pct=_decimal(raw.get("pct", 0), f"{where}.pct"),
        flat=_decimal(raw.get("flat", 0), f"{where}.flat"),
        cap=None if cap is None else _decimal(cap, f"{where}.cap"),
        minimum=_decimal(raw.get("minimum", 0), f"{where}.minimum"),
    )


def plan_from_dict(name: str, raw: Mapping[str, object]) -> BrokeragePlan:
    """A plan from its stored form: a rule table per charge class plus the optional settings."""
    dp = raw.get("dp_charge_per_scrip")
    gst_on_ipft = raw.get("gst_on_ipft", True)
    if not isinstance(gst_on_ipft, bool):
        raise ValueError(f"{name}.gst_on_ipft: expected true or false")
    return BrokeragePlan(
        name=name,
        rules={c: _rule_from_dict(raw.get(c.value), f"{name}.{c.value}") for c in ChargeClass},
        stt_rounding=SttRounding(str(raw.get("stt_rounding", SttRounding.RUPEE_PER_SCRIP.value))),
        gst_on_ipft=gst_on_ipft,
        dp_charge_per_scrip=None if dp is None else _decimal(dp, f"{name}.dp_charge_per_scrip"),
        description=str(raw.get("description", "")),
    )


def plan_to_dict(plan: BrokeragePlan) -> dict[str, object]:
    """The stored form of a plan, JSON-safe: amounts as strings, never floats."""
    out: dict[str, object] = {
        "description": plan.description,
        "stt_rounding": plan.stt_rounding.value,
        "gst_on_ipft": plan.gst_on_ipft,
    }
    if plan.dp_charge_per_scrip is not None:
        out["dp_charge_per_scrip"] = str(plan.dp_charge_per_scrip)
    for c, rule in plan.rules.items():
        entry: dict[str, str] = {}
        if rule.pct:
            entry["pct"] = str(rule.pct)
        if rule.flat:
            entry["flat"] = str(rule.flat)
        if rule.cap is not None:
            entry["cap"] = str(rule.cap)
        if rule.minimum:
            entry["minimum"] = str(rule.minimum)
        out[c.value] = entry
    return out


@cache
def brokerage_plans() -> Mapping[str, BrokeragePlan]:
    """The named plans shipped with the service, read once per process."""
    text = resources.files("tj_trades.domain").joinpath(PLANS_RESOURCE).read_text(encoding="utf-8")
    doc = tomllib.loads(text, parse_float=Decimal)
    return MappingProxyType({name: plan_from_dict(name, raw) for name, raw in doc.items()})


def brokerage_plan(name: str) -> BrokeragePlan:
    """A named plan: "zerodha", "flat20" or "zero"."""
    try:
        return brokerage_plans()[name]
    except KeyError:
        raise KeyError(f"no brokerage plan named {name!r}; known: {sorted(brokerage_plans())}") from None


def zerodha_plan() -> BrokeragePlan:
    return brokerage_plan("zerodha")


def flat_plan(per_order: Decimal = Decimal(20), *, delivery: Decimal | None = None) -> BrokeragePlan:
    """Flat brokerage per executed order in every segment; delivery may differ (e.g. ₹0)."""
    base = brokerage_plan("flat20")
    rule = BrokerageRule(flat=per_order)
    rules = dict.fromkeys(ChargeClass, rule)
    if delivery is not None:
        rules[ChargeClass.EQUITY_DELIVERY] = BrokerageRule(flat=delivery)
    return replace(base, name=f"flat{per_order}", rules=rules)


def zero_plan() -> BrokeragePlan:
    return brokerage_plan("zero")
