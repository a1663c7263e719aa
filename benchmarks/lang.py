"""Language detection: lingua (restricted to fr/ru/en) against langdetect, on short legal questions and passages.

Why lexqa uses lingua: the ``curate`` stage checks the language of every generated question, and short Russian
questions are where langdetect goes wrong (it answers mk or bg). Run::

    .venv/bin/python benchmarks/lang.py
    .venv/bin/python benchmarks/lang.py --quick    # smoke run for CI: 2 rounds, the figures mean nothing

It prints accuracy and texts/s for both detectors on the same texts, and the speed ratio.
"""

from __future__ import annotations

import argparse
import time

from langdetect import DetectorFactory
from langdetect import detect as langdetect_detect
from support.quick import parse_args

from lexqa.lang import LanguageDetector

QUESTIONS = {
    "fr": [
        "Quel est le délai de prescription d'une action en responsabilité ?",
        "Qui peut demander l'annulation d'un contrat de vente ?",
        "Comment contester une amende administrative ?",
        "Quelles sont les obligations du bailleur ?",
        "Un mineur peut-il signer un contrat de travail ?",
        "délai de recours contentieux",
        "droit de rétractation achat en ligne",
        "Que risque-t-on pour un vol simple ?",
        "Quand une décision administrative doit-elle être motivée ?",
        "Le silence de l'administration vaut-il acceptation ?",
    ],
    "ru": [
        "Какой срок исковой давности по договору займа?",
        "Можно ли обжаловать решение арбитражного суда?",
        "Кто платит госпошлину при отказе в иске?",
        "Что такое неустойка?",
        "Как взыскать долг с организации?",
        "срок подачи апелляционной жалобы",
        "штраф за превышение скорости",
        "Когда суд возвращает исковое заявление?",
        "Какие документы нужны для банкротства?",
        "Может ли суд снизить неустойку?",
    ],
}
PASSAGES = {
    "fr": [
        "Toute personne a droit au respect de sa vie privée. Les juges peuvent, sans préjudice de la réparation du "
        "dommage subi, prescrire toutes mesures propres à empêcher ou faire cesser une atteinte à l'intimité.",
        "Le contrat est un accord de volontés entre deux ou plusieurs personnes destiné à créer, modifier, "
        "transmettre ou éteindre des obligations.",
    ],
    "ru": [
        "Суд установил: общество обратилось в арбитражный суд с иском о взыскании задолженности по договору "
        "поставки и неустойки за просрочку оплаты товара.",
        "Руководствуясь статьями 167-170 Арбитражного процессуального кодекса Российской Федерации, суд решил "
        "исковые требования удовлетворить в полном объёме.",
    ],
}


def measure(name: str, detect, texts: list[tuple[str, str]], rounds: int) -> tuple[float, float]:
    correct = sum(detect(text) == lang for lang, text in texts)
    start = time.perf_counter()
    for _ in range(rounds):
        for _, text in texts:
            detect(text)
    rate = rounds * len(texts) / (time.perf_counter() - start)
    return correct / len(texts), rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rounds", type=int, default=20, help="timed passes over the texts")
    args = parse_args(parser, "2 rounds, in seconds", rounds=2)
    DetectorFactory.seed = 0
    lingua = LanguageDetector(["fr", "ru", "en"])
    for label, corpus in (("short questions", QUESTIONS), ("passages", PASSAGES)):
        texts = [(lang, t) for lang, items in corpus.items() for t in items]
        acc_ld, rate_ld = measure("langdetect", langdetect_detect, texts, args.rounds)
        acc_li, rate_li = measure("lingua", lambda t: lingua.detect(t)[0], texts, args.rounds)
        print(f"{label} (n={len(texts)})")
        print(f"  langdetect  accuracy {acc_ld:6.1%}  {rate_ld:10,.0f} texts/s")
        print(
            f"  lingua      accuracy {acc_li:6.1%}  {rate_li:10,.0f} texts/s   speed ratio {rate_li / rate_ld:5.1f}x"
        )


if __name__ == "__main__":
    main()
