"""Which language a text (or a class of texts) is in: a small deterministic stopword detector.

Tools that only know English (WordNet synonyms, CheckList negation and contractions) ask this
module before they touch a text, so that a German or Spanish class is not silently edited with
English rules.  The detector scores each language by the share of word tokens found in a short list
of its most frequent function words (embedded below, no downloads; a word listed for k languages
counts 1/k for each) and returns
``Detection(code, confidence, scores)``:

* ``code``: an ISO 639-1 code from :data:`LANGUAGES`, or ``"unknown"`` when the text has fewer than
  :data:`MIN_WORDS` words, when no list covers at least :data:`MIN_SHARE` of them, or when the best
  language is not clearly ahead of the second;
* ``confidence``: ``(best - second) / best`` in [0, 1] (0 for ``unknown`` by too little text).

Function words are the most frequent words of every language and differ between languages, so a
few dozen per language separate them well on a paragraph; on one short sentence the detector says
``unknown`` rather than guess.  A user who knows the language sets it (``generator.language: de``,
``stress.language: de``) and the detector is not asked.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Iterable

from .errors import ConfigError

# The most frequent function words of each language (articles, pronouns, prepositions,
# conjunctions, auxiliaries), lower case.  Words shared by several languages count for each.
STOPWORDS: dict[str, frozenset[str]] = {k: frozenset(v.split()) for k, v in {
    "en": "the and of to a in is it that you he was for on are with as his they be at one have this from or had by "
          "but not what all were we when your can said there an which she do their if will would my me so no him "
          "has been who its than them these could should our because did does don't i'm it's",
    "de": "der die das und ist nicht ein eine einen einem einer den dem des zu von mit sich auf für im ich du er sie "
          "es wir ihr sind war auch als an wie noch nach aus bei nur oder aber wenn so man dass daß hat haben wird "
          "werden kann mir mich dich dir sein seine ihre vom zum zur kein keine schon immer doch",
    "fr": "le la les de des du et est un une il elle je tu nous vous ils elles que qui dans pour pas ne ce cette ces "
          "sur au aux avec son sa ses mais ou où en sont été être avoir a ont plus se leur y on comme tout très "
          "c'est l'on qu'il j'ai",
    "es": "el la los las de del y en un una es que no se por con para su sus al lo como más pero le ya o este esta "
          "sí porque muy sin sobre también me hay donde quien desde todo nos durante uno ni contra ese eso mi "
          "está son fue ser tiene yo tu",
    "it": "il lo la i gli le di del della dei delle e è un una uno che non per con su sono da nel nella al alla "
          "questo questa ma come più anche se ci si mi ti io tu lui lei noi voi loro ha hanno era essere "
          "perché quando dove chi",
    "nl": "de het een en van is dat die niet in te zijn voor met op ik je hij zij we wij ze er maar om aan ook als "
          "bij nog dan of uit tot door naar kan wordt worden heeft hebben was waren geen wat",
    "pt": "o a os as de do da dos das e é um uma que não em no na nos nas por para com se mais mas ao à como seu sua "
          "ele ela eu você foi são está muito também já quando isso esse essa",
}.items()}
LANGUAGES = tuple(STOPWORDS)
_SHARED = {w: sum(w in sw for sw in STOPWORDS.values()) for sw in STOPWORDS.values() for w in sw}
UNKNOWN = "unknown"
MIN_WORDS = 8
MIN_SHARE = 0.08
MIN_CONFIDENCE = 0.25
MAX_CHARS = 200_000  # a class is judged on its first texts up to this many characters

WORD_RE = re.compile(r"[^\W\d_]+(?:['’][^\W\d_]+)*", re.UNICODE)

# Faker locale per language (entity replacement in text generators and stress suites)
FAKER_LOCALES = {"en": "en_US", "de": "de_DE", "fr": "fr_FR", "es": "es_ES", "it": "it_IT", "nl": "nl_NL", "pt": "pt_PT"}


@dataclass(frozen=True)
class Detection:
    code: str
    confidence: float
    words: int
    scores: dict[str, float] = field(default_factory=dict)

    @property
    def known(self) -> bool:
        return self.code != UNKNOWN

    def to_dict(self) -> dict:
        return {"language": self.code, "confidence": round(self.confidence, 4), "words": self.words,
                "scores": {k: round(v, 4) for k, v in self.scores.items()}}

    def describe(self) -> str:
        if self.code == UNKNOWN:
            return f"unknown (too little or ambiguous text: {self.words} words)"
        return f"{self.code} (confidence {self.confidence:.2f} over {self.words} words)"


def words(text: str) -> list[str]:
    return [w.lower().replace("’", "'") for w in WORD_RE.findall(text)]


def detect(texts: str | Iterable[str], min_words: int = MIN_WORDS, min_confidence: float = MIN_CONFIDENCE) -> Detection:
    """The language of a text or of several texts taken together (deterministic, no downloads)."""
    if isinstance(texts, str):
        texts = [texts]
    toks: list[str] = []
    used = 0
    for t in texts:
        if used >= MAX_CHARS:
            break
        t = str(t)[: MAX_CHARS - used]
        used += len(t)
        toks.extend(words(t))
    n = len(toks)
    if n < min_words:
        return Detection(UNKNOWN, 0.0, n, {})
    # a word listed for k languages counts 1/k for each: "de", "la", "a" say little, "und", "het" a lot
    scores = {lang: sum(1.0 / _SHARED[w] for w in toks if w in sw) / n for lang, sw in STOPWORDS.items()}
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))
    (best, top), (_, second) = ranked[0], ranked[1]
    conf = 0.0 if top <= 0 else (top - second) / top
    if top < MIN_SHARE or conf < min_confidence:
        return Detection(UNKNOWN, conf, n, scores)
    return Detection(best, conf, n, scores)


def check_language(value, key: str) -> str:
    """A config value ``auto`` or a code of :data:`LANGUAGES` (any other code is allowed too: the
    English-only tools then skip, since they know only ``en``)."""
    v = "auto" if value is None else str(value).strip().lower()
    if not v or not re.fullmatch(r"auto|[a-z]{2,3}(?:[-_][a-z0-9]+)?", v):
        raise ConfigError(f"{key}: must be 'auto' or a language code such as en, de, fr, es, got {value!r}")
    return v.split("-")[0].split("_")[0] if v != "auto" else v


def resolve(value: str, texts: Iterable[str]) -> Detection:
    """``value`` (``auto`` or a code) for these texts: the detection, or the code set by the user (confidence 1)."""
    if value == "auto":
        return detect(texts)
    return Detection(value, 1.0, 0, {})
