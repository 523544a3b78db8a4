"""Text generators: templates with Faker (``text_template``), EDA-style edits of real texts
(``text_augment``) and per-class n-gram / local language models (``text_ngram``).

Every text sample has ``data: str``, ``modality="text"``, the class in ``label`` and entity spans in
``annotations["spans"]`` (``[{"start", "end", "label", "text"}]`` with ``data[start:end] == text``).
"""
from .augment import TextAugment
from .ngram import TextNgram
from .template import TextTemplate

__all__ = ["TextAugment", "TextNgram", "TextTemplate"]
