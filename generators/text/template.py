"""``generator=text_template``: weighted templates per class, slots filled by Faker or word lists.

YAML form::

    locale: de_DE
    word_lists: {product: [router, laptop, "smart fridge"]}
    providers:                       # optional named slots with arguments and a label
      dob: {method: date_of_birth, args: {minimum_age: 18}, format: "%d.%m.%Y", label: DATE}
    classes:
      refund_request:
        - {template: "Hi, I'm {name}. My {product} broke, refund to {iban}.", weight: 3}
        - "Please call {name} at {phone_number:PHONE}."   # weight 1

A slot is ``{name}`` or ``{name:LABEL}`` (``{{``/``}}`` are literal braces; ``{name:-}`` fills the
slot without a span, for words that are not entities).  ``name`` is a word list,
a named provider, or any Faker method that takes no arguments (``name``, ``address``, ``company``,
``date``, ``email``, ``phone_number``, ``iban``, ``credit_card_number``, ...).  Every filled slot
becomes a span ``{"start", "end", "label", "text"}`` with ``text[start:end]`` equal to the value,
also for multi-line and non-ASCII values.

Faker's output for a seed changes between Faker releases, so the Faker version and the locale are
recorded in every sample's provenance.  One Faker instance is reseeded per sample
(``seed_instance(sample_seed)``), so sample ``i`` never depends on any other sample.
"""
from __future__ import annotations

import functools
import string
from typing import Any

import numpy as np

from synthgen.config import plain
from synthgen.errors import ConfigError
from synthgen.seeding import sample_seed

from ..base import BaseGenerator

# entity label of a slot filled by a Faker method, when the template gives none
DEFAULT_LABELS = {
    "name": "PERSON", "first_name": "PERSON", "last_name": "PERSON", "name_male": "PERSON", "name_female": "PERSON",
    "address": "ADDRESS", "street_address": "ADDRESS", "city": "LOCATION", "country": "LOCATION", "postcode": "ADDRESS",
    "company": "ORG", "date": "DATE", "date_of_birth": "DATE", "date_this_year": "DATE", "day_of_week": "DATE",
    "email": "EMAIL", "free_email": "EMAIL", "company_email": "EMAIL", "safe_email": "EMAIL",
    "phone_number": "PHONE", "msisdn": "PHONE", "iban": "IBAN", "bban": "IBAN", "swift": "SWIFT",
    "credit_card_number": "CREDIT_CARD", "ssn": "ID_NUMBER", "ipv4": "IP_ADDRESS", "ipv6": "IP_ADDRESS",
    "url": "URL", "user_name": "USERNAME", "license_plate": "ID_NUMBER",
}


@functools.lru_cache(maxsize=None)
def faker_version() -> str:
    from importlib.metadata import version

    return version("faker")


def make_faker(locale: str, key: str = "generator.locale"):
    """A Faker instance for one locale; an unknown locale is a ConfigError naming ``key``."""
    try:
        from faker import Faker
    except ImportError:
        raise ConfigError(f"{key}: text generators need Faker (pip install 'synthgen-rare[text]')") from None
    try:
        return Faker(str(locale))
    except AttributeError:
        raise ConfigError(f"{key}: Faker has no locale {locale!r}") from None


def _value_str(v: Any, fmt: str | None) -> str:
    if fmt and hasattr(v, "strftime"):
        return v.strftime(fmt)
    return str(v)


def parse_template(tpl: str, key: str) -> list[tuple[str, str | None, str | None]]:
    """``[(literal, slot or None, label or None), ...]``; errors name ``key``."""
    try:
        parts = list(string.Formatter().parse(tpl))
    except ValueError as e:
        raise ConfigError(f"{key}: bad template {tpl!r} ({e}; write {{{{ and }}}} for literal braces)") from None
    out = []
    for literal, field, spec, conv in parts:
        if field is None:
            out.append((literal, None, None))
            continue
        if not field or not field.replace("_", "a").isalnum() or conv:
            raise ConfigError(f"{key}: bad slot {{{field}{'!' + conv if conv else ''}}} in {tpl!r} (use {{name}} or {{name:LABEL}})")
        out.append((literal, field, spec or None))
    return out


class TextTemplate(BaseGenerator):
    """Class-labeled texts with exact entity spans, from weighted templates per class."""

    modality = "text"
    version = "1"
    short_name = "template"
    libraries = ("faker",)

    def __init__(self, classes: dict[str, list], locale: str = "en_US", word_lists: dict[str, list[str]] | None = None,
                 providers: dict[str, dict[str, Any]] | None = None):
        self.classes = plain(classes)
        self.locale = str(locale)
        self.word_lists = plain(word_lists) or {}
        self.providers = plain(providers) or {}
        self._compiled = None
        self._faker = None

    # -- compilation (first use) --------------------------------------------------------------
    def _slot(self, name: str, label: str | None, key: str, fake) -> tuple:
        if name in self.word_lists:
            words = self.word_lists[name]
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
                raise ConfigError(f"generator.word_lists.{name}: must be a non-empty list of non-empty strings")
            return ("words", name, tuple(words), None, None, label or name.upper())
        if name in self.providers:
            p = self.providers[name]
            pk = f"generator.providers.{name}"
            if not isinstance(p, dict) or "method" not in p:
                raise ConfigError(f"{pk}: needs 'method' (a Faker method name)")
            unknown = set(p) - {"method", "args", "format", "label"}
            if unknown:
                raise ConfigError(f"{pk}.{sorted(unknown)[0]}: unknown key (allowed: method, args, format, label)")
            if not callable(getattr(fake, str(p["method"]), None)):
                raise ConfigError(f"{pk}.method: Faker has no method {p['method']!r} in locale {self.locale}")
            return ("faker", str(p["method"]), dict(p.get("args") or {}), p.get("format"), None,
                    label or p.get("label") or DEFAULT_LABELS.get(str(p["method"]), name.upper()))
        if name.startswith("_") or not callable(getattr(fake, name, None)):
            raise ConfigError(f"{key}: unknown slot {{{name}}} (not a word list, a generator.providers entry or a Faker method "
                              f"in locale {self.locale})")
        return ("faker", name, {}, None, None, label or DEFAULT_LABELS.get(name, name.upper()))

    def compile(self):
        if self._compiled is not None:
            return self._compiled
        if not isinstance(self.classes, dict) or not self.classes:
            raise ConfigError("generator.classes: must map each class to a list of templates")
        fake = self.faker()
        compiled = {}
        for label, items in self.classes.items():
            key = f"generator.classes.{label}"
            if isinstance(items, (str, dict)):
                items = [items]
            if not isinstance(items, list) or not items:
                raise ConfigError(f"{key}: must be a non-empty list of templates")
            tpls, weights = [], []
            for k, it in enumerate(items):
                ik = f"{key}[{k}]"
                if isinstance(it, str):
                    it = {"template": it}
                if not isinstance(it, dict) or not isinstance(it.get("template"), str):
                    raise ConfigError(f"{ik}: needs 'template' (a string)")
                unknown = set(it) - {"template", "weight"}
                if unknown:
                    raise ConfigError(f"{ik}.{sorted(unknown)[0]}: unknown key (allowed: template, weight)")
                w = it.get("weight", 1.0)
                if not isinstance(w, (int, float)) or isinstance(w, bool) or not w > 0:
                    raise ConfigError(f"{ik}.weight: must be a positive number, got {w!r}")
                parts = [(lit, self._slot(f, lab, ik, fake) if f else None) for lit, f, lab in parse_template(it["template"], ik)]
                tpls.append(parts)
                weights.append(float(w))
            p = np.asarray(weights) / np.sum(weights)
            cdf = p.cumsum()
            cdf /= cdf[-1]
            compiled[str(label)] = (tpls, cdf)
        self._compiled = compiled
        return compiled

    def faker(self):
        if self._faker is None:
            self._faker = make_faker(self.locale)
        return self._faker

    def fit(self, real) -> "TextTemplate":
        self.real_ = real
        self.compile()
        return self

    # -- generation ---------------------------------------------------------------------------
    def fill(self, parts, rng: np.random.Generator, faker_seed: int) -> tuple[str, list[dict[str, Any]], list[dict]]:
        """Fill one compiled template: (text, spans, slots)."""
        fake = self.faker()
        fake.seed_instance(faker_seed)
        buf: list[str] = []
        pos = 0
        spans, slots = [], []
        for literal, slot in parts:
            if literal:
                buf.append(literal)
                pos += len(literal)
            if slot is None:
                continue
            kind, name, arg, fmt, _, label = slot
            if kind == "words":
                value = arg[int(rng.integers(len(arg)))]
            else:
                value = _value_str(getattr(fake, name)(**arg), fmt)
            if not value:
                continue
            buf.append(value)
            if label != "-":
                spans.append({"start": pos, "end": pos + len(value), "label": label, "text": value})
            slots.append({"slot": name, "label": label})
            pos += len(value)
        return "".join(buf), spans, slots

    def _make(self, label, index, rng, seed):
        compiled = self.compile()
        if label not in compiled:
            raise ConfigError(f"generator.classes: no templates for class '{label}' (have: {', '.join(compiled)})")
        tpls, cdf = compiled[label]
        # the draw of rng.choice(len(tpls), p=p), step for step (same index, same stream), at a third of
        # its cost: choice re-validates p on every call
        k = int(cdf.searchsorted(rng.random(), side="right"))
        fseed = sample_seed(seed, label, index, "faker")
        text, spans, slots = self.fill(tpls[k], rng, fseed)
        params = {"template": k, "locale": self.locale, "faker": faker_version(), "faker_seed": fseed, "slots": slots}
        return text, {"spans": spans}, [], params
