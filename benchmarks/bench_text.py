"""Text generators against the raw libraries: samples per second and the ratio.

* ``text_template`` vs a plain Faker loop that fills the same slots with the same per-sample
  reseeding (``seed_instance``) and joins the strings, without spans or provenance.  Goal: overhead
  under 10 %.
* ``text_augment`` vs the raw edits (the same operations as plain string edits with ``random``, no
  span bookkeeping, no provenance).

    python benchmarks/bench_text.py [--n 3000]
"""
from __future__ import annotations

import argparse
import random
import time


def _best(fn, repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_template(n: int) -> tuple[float, float]:
    from faker import Faker

    from synthgen.generators.text import TextTemplate
    from synthgen.seeding import sample_seed

    tpl = "Hi, I'm {name}. I live at {address}; IBAN {iban}, card {credit_card_number}, mail {email}, phone {phone_number}."
    g = TextTemplate({"c": [tpl]})
    g.compile()

    def ours():
        for _ in g.generate("c", n, 0):
            pass

    fake = Faker("en_US")

    def raw():
        for i in range(n):
            fake.seed_instance(sample_seed(0, "c", i, "faker"))
            "Hi, I'm " + fake.name() + ". I live at " + fake.address() + "; IBAN " + fake.iban() + ", card " + \
                fake.credit_card_number() + ", mail " + fake.email() + ", phone " + fake.phone_number() + "."

    return n / _best(ours), n / _best(raw)


def bench_augment(n: int) -> tuple[float, float]:
    from synthgen.generators.text import TextAugment
    from synthgen.io.jsonl import read_jsonl

    pii = read_jsonl("pkg://synthgen.generators.text/data/pii_seed.jsonl")
    ops = {"swap": 1.0, "delete": 1.0, "typo": 1.0}
    g = TextAugment(ops=ops, n_ops=[1, 1]).fit(pii)
    label = "payment_issue"

    def ours():
        for _ in g.generate(label, n, 0):
            pass

    texts = [s.data for s in pii.by_class(label)]
    keys = "qwertyuiopasdfghjklzxcvbnm"

    def raw():
        r = random.Random(0)
        for _ in range(n):
            w = r.choice(texts).split(" ")
            op = r.choice(("swap", "delete", "typo"))
            if op == "swap" and len(w) > 1:
                i, j = r.sample(range(len(w)), 2)
                w[i], w[j] = w[j], w[i]
            elif op == "delete" and len(w) > 1:
                w = [x for x in w if r.random() > 0.1] or w[:1]
            else:
                k = r.randrange(len(w))
                if w[k]:
                    c = r.randrange(len(w[k]))
                    w[k] = w[k][:c] + r.choice(keys) + w[k][c + 1:]
            " ".join(w)

    return n / _best(ours), n / _best(raw)


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=3000)
    a = ap.parse_args(argv)
    ours, raw = bench_template(a.n)
    print(f"text_template   {ours:9.0f} samples/s   plain Faker loop {raw:9.0f}/s   ratio {ours / raw:.2f}  "
          f"(overhead {100 * (raw / ours - 1):.1f} %, goal < 10 %)")
    ours, raw = bench_augment(a.n)
    print(f"text_augment    {ours:9.0f} samples/s   raw string edits {raw:9.0f}/s   ratio {ours / raw:.2f}  "
          f"(spans recomputed after every edit, provenance per sample)")


if __name__ == "__main__":
    main()
