"""Parts of the generate stage that need no server: reply parsing, templates, jobs and their question rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from lexqa.config import GenerateParams, ParamsError
from lexqa.generate.jobs import JobBuilder, question_rows
from lexqa.generate.parsing import parse_questions
from lexqa.generate.prompts import PromptTemplate, Templates, response_format, step_down, style_slots
from lexqa.llm.cache import Entry
from lexqa.llm.jobs import cache_key
from lexqa.llm.replies import ReplyError

ROOT = Path(__file__).resolve().parents[1]
SLOTS = ["layperson", "query"]


# ----------------------------------------------------------------------------- parsing
@pytest.mark.parametrize(
    "content",
    [
        '{"questions": [{"style": "layperson", "question": "A ?"}, {"style": "query", "question": "b"}]}',
        '```json\n{"questions": [{"style": "layperson", "question": "A ?"}, {"question": "b"}]}\n```',
        'Voici :\n{"questions": [{"question": "A ?"}, {"question": "b"}]}\nJ\'espère que cela aide.',
        '["A ?", "b"]',
        '[{"style": "layperson", "question": "  A\n ?"}, {"style": "query", "question": "b"}] trailing',
    ],
)
def test_parse_accepts_the_shapes_models_produce(content: str) -> None:
    assert parse_questions(content, SLOTS) == [("layperson", "A ?"), ("query", "b")]


@pytest.mark.parametrize(
    ("content", "code"),
    [
        (None, "empty"),
        ("   ", "empty"),
        ('{"questions": [{"style": "query", "question": "Quel', "bad_json"),
        ("Je ne peux pas répondre.", "bad_json"),
        ('{"questions": "A ?"}', "bad_json"),
        ('{"questions": [{"question": "A ?"}]}', "wrong_count"),
        ('{"questions": ["A ?", "b", "c"]}', "wrong_count"),
        ('{"questions": ["A ?", ""]}', "empty_question"),
        ('{"questions": ["A ?", {"text": "b"}]}', "empty_question"),
    ],
)
def test_parse_rejects_what_cannot_be_trusted(content: str | None, code: str) -> None:
    with pytest.raises(ReplyError) as err:
        parse_questions(content, SLOTS)
    assert err.value.code == code


def test_parse_keeps_a_requested_style_the_model_names_and_falls_back_to_the_slot() -> None:
    content = '[{"style": "query", "question": "a"}, {"style": "poem", "question": "b"}]'
    assert parse_questions(content, SLOTS) == [("query", "a"), ("query", "b")]


# ----------------------------------------------------------------------------- prompts
def test_shipped_templates_describe_every_default_style_and_render() -> None:
    params = GenerateParams(prompts={k: ROOT / v for k, v in GenerateParams().prompts.items()})
    templates = Templates(params)
    fr = templates.for_chunk("fr_codes", "fr")
    ru = templates.for_chunk("ru_rulings", "ru")
    other = templates.for_chunk("de_laws", "de")
    assert (fr.path, ru.path, other.path) == tuple(
        str(ROOT / f"prompts/question_{k}.md") for k in ("fr", "ru", "default")
    )
    prompt = fr.render(
        text="Chacun a droit au respect de sa vie privée.",
        context="Code civil > Article 9",
        lang="fr",
        slots=["layperson", "practitioner", "query"],
    )
    assert (
        "Code civil > Article 9" in prompt and "vie privée" in prompt and "exactement 3 questions" in prompt
    )
    assert "1. layperson: " in prompt and "3. query: " in prompt and "cet article" in prompt
    assert "German" in other.render(text="x", context=None, lang="de", slots=["query"])
    assert "$" not in prompt


def test_template_errors_name_the_file_and_the_problem(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"t\.md: unknown placeholders \['chunk'\]"):
        PromptTemplate.parse("$chunk", "t.md")
    with pytest.raises(ParamsError, match="must contain \\$text"):
        PromptTemplate.parse("---\nstyles: {}\n---\nno text", "t.md")
    with pytest.raises(ParamsError, match="never closed"):
        PromptTemplate.parse("---\nstyles: {}\n$text", "t.md")
    path = tmp_path / "q.md"
    path.write_text("---\nstyles: {query: a query}\n---\n$slots $text", encoding="utf-8")
    with pytest.raises(ParamsError, match=r"does not describe the styles \['layperson'\]"):
        Templates(GenerateParams(styles=["query", "layperson"], prompts={"default": path}))
    with pytest.raises(FileNotFoundError, match=r"generate\.prompts"):
        Templates(GenerateParams(prompts={"default": tmp_path / "missing.md"}))


def test_style_slots_are_stable_and_balanced() -> None:
    styles = ["layperson", "practitioner", "query"]
    assert style_slots("a#1", styles, 3) == style_slots("a#1", styles, 3)
    assert sorted(style_slots("a#1", styles, 3)) == sorted(styles)
    firsts = [style_slots(f"doc{i}#0", styles, 1)[0] for i in range(300)]
    assert all(60 <= firsts.count(s) <= 140 for s in styles)


def test_response_format_asks_for_exactly_n_items_of_the_requested_styles() -> None:
    fmt = response_format("json_schema", ["query", "layperson", "query"])
    array = fmt["json_schema"]["schema"]["properties"]["questions"]
    assert (array["minItems"], array["maxItems"]) == (3, 3)
    assert array["items"]["properties"]["style"]["enum"] == ["layperson", "query"]
    assert response_format("json_object", ["query"]) == {"type": "json_object"}
    assert response_format("text", ["query"]) is None


def test_the_step_down_goes_from_the_configured_format_to_plain_text() -> None:
    ladder = step_down("json_schema", ["query", "layperson", "query"])
    assert [mode for mode, _ in ladder] == ["json_schema", "json_object_schema", "json_object", "text"]
    schema = response_format("json_schema", ["query", "layperson", "query"])["json_schema"]["schema"]
    assert ladder[1][1] == {"type": "json_object", "schema": schema} and ladder[3][1] is None
    assert step_down("text", ["query"]) == (("text", None),)
    template = PromptTemplate.parse("---\nstyles: {query: q}\n---\n$slots $text", "t.md")
    params = GenerateParams(styles=["query"], questions_per_chunk=1, response_format="json_object")
    job = JobBuilder(params).build(template, "d#0", "texte", None, "fr")
    assert job.formats == step_down("json_object", ["query"])
    assert job.body["response_format"] is job.formats[0][1]  # the body carries the first step


def test_cache_key_covers_model_prompt_and_generation_params_only() -> None:
    template = PromptTemplate.parse("---\nstyles: {query: q}\n---\n$slots $text", "t.md")
    params = GenerateParams(styles=["query"], questions_per_chunk=1)
    job = JobBuilder(params).build(template, "d#0", "texte", None, "fr")
    same = JobBuilder(params.model_copy(update={"concurrency": 99, "base_url": "http://x/v1"})).build(
        template,
        "d#0",
        "texte",
        None,
        "fr",
    )
    assert job.key == same.key == cache_key(job.body)
    for change in ({"model": "other"}, {"temperature": 0.1}, {"max_tokens": 99}, {"response_format": "text"}):
        assert (
            JobBuilder(params.model_copy(update=change)).build(template, "d#0", "texte", None, "fr").key
            != job.key
        )
    assert JobBuilder(params).build(template, "d#0", "autre texte", None, "fr").key != job.key


def test_job_builder_keys_equal_cache_key_of_the_body_for_every_style_tuple() -> None:
    template = PromptTemplate.parse("---\nstyles: {a: x, b: y, c: z}\n---\n$slots $text", "t.md")
    builder = JobBuilder(GenerateParams(styles=["a", "b", "c"], questions_per_chunk=2))
    jobs = [builder.build(template, f"d#{i}", f"texte {i}", None, "fr") for i in range(30)]
    assert len({job.labels for job in jobs}) == 3  # every rotation of the styles occurs
    assert all(job.key == cache_key(job.body) for job in jobs)
    assert len({job.key for job in jobs}) == 30
    first, second = builder.build(template, "d#0", "texte 0", None, "fr"), jobs[0]
    assert first == second and first.body["response_format"] is second.body["response_format"]


def test_question_rows_one_per_question_or_one_failure_per_style() -> None:
    template = PromptTemplate.parse("---\nstyles: {a: x, b: y}\n---\n$slots $text", "t.md")
    job = JobBuilder(GenerateParams(styles=["a", "b"], questions_per_chunk=3)).build(
        template, "d#0", "t", None, "fr"
    )
    ok = Entry(job.key, "ok", [("a", "q1"), ("a", "q2"), ("b", "q3")], None, 10, 5, "m", "openai")
    rows = question_rows(job, ok, "openai", "m")
    assert [r["question_id"] for r in rows] == ["d#0:a:0", "d#0:a:1", "d#0:b:0"]
    assert all(r["prompt_tokens"] == 10 and r["status"] == "ok" for r in rows)
    failed = question_rows(job, Entry(job.key, "failed", error="bad_json: x"), "openai", "m")
    assert sorted(r["question_id"] for r in failed) == ["d#0:a:failed", "d#0:b:failed"]
    assert all(r["error"] == "bad_json: x" and r["question"] is None for r in failed)
    assert question_rows(job, None, "openai-batch", "m")[0]["error"].startswith("not_generated")
