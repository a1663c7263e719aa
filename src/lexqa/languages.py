"""What lexqa knows about languages and the legal texts written in them: one table entry per language.

Each :class:`Language` says how its codes and rulings are written (the words that open an article, the word
before a case number), which abbreviations a full stop follows without ending a sentence, the phrases by which
a question points at "the text" instead of naming its subject, the words of a code's structure (``Livre``,
``Глава``), the judge's yes and no, and which stopword list the lexical side uses. The stages read it through
the names below; adding a language is one entry in :data:`TABLE` (its code in ISO 639-1) plus a prompt
template in ``prompts/`` (``lexqa new-domain`` writes one)::

    >>> language_name("de"), TABLE["de"].article_words, case_word("ru"), case_word("de")
    ('German', ('Artikel', '§'), 'дело №', 'case No')
    >>> "janv." in ABBREVIATIONS and "ст." in ABBREVIATIONS
    True

Russian court rulings have parts that open with a verb (``УСТАНОВИЛ:``, ``РЕШИЛ:``): :data:`REASONING_VERBS`
and :data:`OPERATIVE_VERBS` are the one list both ingest (which gives each marker a paragraph of its own) and
chunk (which cuts a ruling into header, reasoning and operative part) look for.

Tokenisation and BM25 stay in :mod:`lexqa.lexical` (retrieval, with its library); only the choice of stopword
list per language is made here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Language:
    """One language's entry in :data:`TABLE`."""

    code: str
    """ISO 639-1 code, as a source declares it (``lang: fr``)."""
    name: str
    """Its name in English, as prompt templates say it (``$language``)."""
    article_words: tuple[str, ...] = ("Article",)
    """Words that open an article in its codes; the first names an article in a chunk's context line when its
    source does not say which word opened it (``lexqa new-domain`` writes them as ``article_words``)."""
    case_word: str = "case No"
    """What precedes a ruling's case number in a chunk's context line (``…, дело № А40-1/2020``)."""
    abbreviations: tuple[str, ...] = ()
    """Words after which a full stop does not end a sentence (lower case, with the full stop). Single letters
    (``п.``, ``L.``, initials) and dotted letters (``т.е.``) are recognised by their form, whatever the
    language."""
    sentence_final: tuple[str, ...] = ()
    """Abbreviations that often close a sentence (``etc.``): a sentence may end after them."""
    self_reference: tuple[str, ...] = ()
    """Regexes (matched case-insensitively) of phrases by which a question points at "this article" or "the
    text" instead of standing alone: curate's ``self_reference`` filter by default."""
    structure_words: tuple[str, ...] = ()
    """Words naming a level of a code's structure (``Livre``, ``Глава``): a heading made of one of them and a
    number has no title words (the offline ``title`` style)."""
    empty_words: tuple[str, ...] = ()
    """Words of the law's own structure, never a subject (the offline ``keywords`` and ``aspect`` styles leave
    them out)."""
    answers: Mapping[str, str] = field(default_factory=dict)
    """Its words for yes and no, mapped to ``yes`` / ``no`` (the curate judge accepts them)."""
    stopwords: str | None = None
    """The name of its stopword list in ``bm25s.stopwords`` (None: no stopwords)."""


_FRENCH_ABBREVIATIONS = """
    art. arts. al. cf. conf. no. nos. pp. ss. sq. sqq. suiv. préc. op. cit. ibid. id. chap. ch. sect.
    tit. liv. ann. civ. pén. com. crim. soc. adm. const. proc. req. ass. plén. bull. jur. ord. décr. déc.
    circ. av. apr. j.-c. mm. me. mlle. mme. dr. pr. st. ste. vol. éd. fasc. env. max. min. cass. cons.
    loc. ex. not. obs. concl. rapp. réf. mod. abr. prov. dép. coll. n°.
    janv. févr. fév. avr. juil. sept. oct. nov.
"""
_RUSSIAN_ABBREVIATIONS = """
    ст. ст.ст. стст. пп. подп. пп.пп. чч. гг. тт. абз. разд. гл. см. напр. рис. табл. прим. руб. коп.
    тыс. млн. млрд. ул. пер. просп. пр. кв. корп. стр. обл. им. св. ред. изд. утв. вып. сб. сл. тел.
    доп. искл. изм. зам. пред. ген. дир. гос. мин. куб. кв.м. ок. прил. пос. дер. р-н. гр. уг. адм.
    фед. №. рп.
    янв. фев. февр. мар. апр. авг. сен. сент. окт. нояб. ноя. дек.
"""

TABLE: dict[str, Language] = {
    lang.code: lang
    for lang in (
        Language(
            "fr",
            "French",
            case_word="affaire n°",
            abbreviations=tuple(_FRENCH_ABBREVIATIONS.split()),
            sentence_final=("etc.",),
            self_reference=(
                r"\bcet(?:te)? (?:article|extrait|alinéa|disposition|section|décision)\b",
                r"\bce (?:texte|document|passage|paragraphe|fragment)\b",
                r"\bci-dessus\b",
                r"\b(?:selon|d'après|dans) le (?:texte|passage|document|fragment)\b",
            ),
            structure_words=(
                "partie",
                "livre",
                "titre",
                "sous-titre",
                "chapitre",
                "sous-chapitre",
                "section",
                "sous-section",
                "paragraphe",
                "sous-paragraphe",
                "annexe",
                "tome",
                "article",
                "art",
            ),
            empty_words=(
                "partie",
                "livre",
                "titre",
                "chapitre",
                "section",
                "sous",
                "article",
                "articles",
                "alinéa",
                "présent",
                "présente",
                "présents",
                "présentes",
                "dispositions",
                "disposition",
                "code",
                "1er",
                "ier",
            ),
            answers={"oui": "yes", "non": "no"},
            stopwords="STOPWORDS_FRENCH",
        ),
        Language(
            "ru",
            "Russian",
            article_words=("Статья",),
            case_word="дело №",
            abbreviations=tuple(_RUSSIAN_ABBREVIATIONS.split()),
            sentence_final=("т.д.", "т.п.", "др."),
            self_reference=(
                r"\b(?:данн|эт|настоящ|приведённ|приведенн|вышеуказанн)\w* "
                r"(?:стать|текст|документ|фрагмент|отрыв|положени|пункт|решени|определени|постановлени|дел)\w*",
                r"\bв тексте\b",
                r"\b(?:согласно|по) тексту\b",
            ),
            structure_words=("глава", "раздел", "подраздел", "параграф", "часть", "статья"),
            empty_words=("глава", "раздел", "статья", "статьи", "часть", "пункт", "настоящего", "настоящей"),
            answers={"да": "yes", "нет": "no"},
            stopwords="STOPWORDS_RUSSIAN",
        ),
        Language(
            "en",
            "English",
            self_reference=(
                r"\bthis (?:article|text|document|passage|excerpt|section|provision|ruling)\b",
                r"\bthe (?:above|given|provided) (?:text|passage|article|document)\b",
                r"\baccording to the (?:text|passage|document)\b",
            ),
            answers={"yes": "yes", "no": "no"},
            stopwords="STOPWORDS_EN",
        ),
        Language("de", "German", article_words=("Artikel", "§"), stopwords="STOPWORDS_GERMAN"),
        Language("es", "Spanish", article_words=("Artículo",), stopwords="STOPWORDS_SPANISH"),
        Language("it", "Italian", article_words=("Articolo",), stopwords="STOPWORDS_ITALIAN"),
        Language("pt", "Portuguese", article_words=("Artigo",), stopwords="STOPWORDS_PORTUGUESE"),
        Language("nl", "Dutch", article_words=("Artikel",), stopwords="STOPWORDS_DUTCH"),
        Language("pl", "Polish", article_words=("Artykuł", "Art.")),
        Language("uk", "Ukrainian", article_words=("Стаття",), case_word="справа №"),
    )
}
"""Every language a source may declare, by code."""

CODES = tuple(TABLE)
"""The codes of :data:`TABLE`: the ``lang`` a source may declare (params check it)."""

ABBREVIATIONS = frozenset(a for lang in TABLE.values() for a in lang.abbreviations)
"""The abbreviations of every language: a sentence splitter cannot know a sentence's language."""

SENTENCE_FINAL = frozenset(a for lang in TABLE.values() for a in lang.sentence_final)
"""Abbreviations of every language after which a sentence may end."""

STRUCTURE_WORDS = (*(w for lang in TABLE.values() for w in lang.structure_words), "§")
"""Words naming a level of a code's structure, in every language (``§`` in all of them)."""

EMPTY_WORDS = frozenset(w for lang in TABLE.values() for w in lang.empty_words)
"""Words of the law's own structure in every language, never a subject."""

ANSWERS = {word: answer for lang in TABLE.values() for word, answer in lang.answers.items()}
"""Yes and no in every language, mapped to ``yes`` / ``no``."""

SELF_REFERENCE_PATTERNS = {
    lang.code: list(lang.self_reference) for lang in TABLE.values() if lang.self_reference
}
"""Self-reference regexes by language, for the languages that have them (curate's default)."""

REASONING_VERBS = ("установил",)
"""The verb that opens the reasoning of a Russian ruling (``УСТАНОВИЛ:``, ``Суд установил:``)."""
OPERATIVE_VERBS = ("решил", "постановил", "определил", "приговорил")
"""The verbs that open the operative part of a Russian ruling (``РЕШИЛ:``, ``определила:``)."""
VERB_ENDINGS = "аи"
"""The letter a marker verb may end with: feminine (``установила``, a judge) or plural (``определили``)."""


def language_name(code: str | None, default: str = "the language of the text") -> str:
    """The English name of ``code``; the code itself when it is not in :data:`TABLE`, ``default`` without one.

    >>> language_name("ru"), language_name("xx"), language_name(None)
    ('Russian', 'xx', 'the language of the text')
    """
    if not code:
        return default
    return TABLE[code].name if code in TABLE else code


def article_word(code: str | None) -> str:
    """The word that names an article in ``code``'s codes (``Article`` for a language not in the table)."""
    return TABLE[code].article_words[0] if code in TABLE else "Article"


def case_word(code: str | None) -> str:
    """What precedes a ruling's case number in ``code`` (``case No`` for a language not in the table)."""
    return TABLE[code].case_word if code in TABLE else "case No"
