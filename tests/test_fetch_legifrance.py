"""fetch_legifrance against a fake PISTE (OAuth2 + Légifrance API) on 127.0.0.1: tokens, tree, secrets."""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

import polars as pl
import pytest
from fixture_servers import FixtureServer, Reply, Seen, fetch_params

from lexqa.config import LegifranceJsonSource, ParamsError
from lexqa.fetch import legifrance
from lexqa.fetch.client import FetchError

CODE = "LEGITEXT000006070721"
CLIENT_ID, SECRET = "lexqa-test-client-7f3a", "s3cr3t-Zq9xW4-never-log-me"
ID_ENV, SECRET_ENV = "LEXQA_TEST_PISTE_ID", "LEXQA_TEST_PISTE_SECRET"


def art(art_id: str, num: str, order: int, etat: str = "VIGUEUR", cid: str | None = None) -> dict:
    return {"id": art_id, "cid": cid or art_id, "num": num, "etat": etat, "intOrdre": order}


TOC = {
    "id": f"{CODE}_01-01-2024",
    "cid": CODE,
    "title": "Code civil",
    "etat": "VIGUEUR",
    "modifDate": "2024-01-01",
    "dateDebutVersion": "2024-01-01",
    "dateFinVersion": "2999-01-01",
    "articles": [],
    "sections": [
        {
            "id": "LEGISCTA000006089696",
            "cid": "LEGISCTA000006089696",
            "title": "Titre préliminaire",
            "etat": "VIGUEUR",
            "intOrdre": 20,
            "dateDebut": "2004-01-01",
            "dateFin": "2999-01-01",
            "sections": [],
            "articles": [
                art("LEGIARTI000006419282", "2", 20),
                art("LEGIARTI000006419280", "1", 10),
                art("LEGIARTI000006419100", "1", 10, cid="LEGIARTI000006419280"),  # an older version
            ],
        },
        {
            "id": "LEGISCTA000006089697",
            "cid": "LEGISCTA000006089697",
            "title": "Livre Ier : Des personnes",
            "etat": "VIGUEUR",
            "intOrdre": 10,
            "sections": [],
            "articles": [art("LEGIARTI000006419283", "7", 5)],
        },
        {
            "id": "LEGISCTA000000000001",
            "title": "Dispositions abrogées",
            "etat": "ABROGE",
            "intOrdre": 30,
            "sections": [],
            "articles": [art("LEGIARTI000000000009", "99", 1, etat="ABROGE")],
        },
    ],
}
WANTED = ["LEGIARTI000006419283", "LEGIARTI000006419280", "LEGIARTI000006419282"]


def article_answer(art_id: str) -> dict:
    return {
        "executionTime": 3,
        "article": {
            "id": art_id,
            "cid": art_id,
            "num": {"LEGIARTI000006419280": "1", "LEGIARTI000006419282": "2"}.get(art_id, "7"),
            "etat": "VIGUEUR",
            "ordre": 1,
            "texte": f"Texte de l'article {art_id}.",
            "texteHtml": f"<p>Texte de l'article {art_id}.</p>",
            "nota": "",
            "notaHtml": "",
            "dateDebut": 1072915200000,
            "dateFin": 32472144000000,
            "dateDebutExtension": 32472144000000,
            "dateFinExtension": 32472144000000,
            "articleVersions": [{"id": art_id, "etat": "VIGUEUR", "version": "1.0"}],
            "lienModifications": [],
            "surtitre": None,
        },
    }


class FakePiste:
    """Issues tokens tok-1, tok-2...; revokes the first after ``revoke_after`` API calls (forcing a 401)."""

    def __init__(self, server: FixtureServer, revoke_after: int = 2, failing: frozenset[str] = frozenset()):
        self.server = server
        self.tokens: list[str] = []
        self.api_calls = 0
        self.revoke_after = revoke_after
        self.failing = failing
        server.route("/oauth/token", self.token)
        server.route("/api/consult/legi/tableMatieres", self.api)
        server.route("/api/consult/getArticle", self.api)

    def token(self, req: Seen) -> Reply:
        form = parse_qs(req.body.decode())
        if form.get("client_id") != [CLIENT_ID] or form.get("client_secret") != [SECRET]:
            return Reply(401, json.dumps({"error": "invalid_client"}).encode())
        assert form["grant_type"] == ["client_credentials"] and form["scope"] == ["openid"]
        self.tokens.append(f"tok-{len(self.tokens) + 1}")
        body = {"access_token": self.tokens[-1], "token_type": "Bearer", "expires_in": 3600}
        return Reply(body=json.dumps(body).encode(), headers={"Content-Type": "application/json"})

    def api(self, req: Seen) -> Reply:
        self.api_calls += 1
        valid = set(self.tokens[1:] if self.api_calls > self.revoke_after else self.tokens)
        if req.headers.get("authorization", "").removeprefix("Bearer ") not in valid:
            return Reply(401, b'{"error": "invalid_token"}')
        body = json.loads(req.body)
        if req.path.endswith("tableMatieres"):
            assert body == {"textId": CODE, "date": "2024-03-01", "nature": "CODE"}
            return Reply(body=json.dumps(TOC).encode())
        if body["id"] in self.failing:
            return Reply(500)
        return Reply(body=json.dumps(article_answer(body["id"])).encode())


@pytest.fixture
def env(monkeypatch):
    monkeypatch.setenv(ID_ENV, CLIENT_ID)
    monkeypatch.setenv(SECRET_ENV, SECRET)


def params_for(server: FixtureServer, tmp_path, **over):
    return fetch_params(
        legifrance={
            "oauth_url": server.url("/oauth/token"),
            "api_url": server.url("/api"),
            "client_id_env": ID_ENV,
            "client_secret_env": SECRET_ENV,
            "codes": [CODE],
            "date": "2024-03-01",
            "requests_per_second": 50,
            "cache_dir": str(tmp_path / "cache"),
            "out_dir": str(tmp_path / "raw"),
            **over,
        }
    )


def test_code_tree_has_the_reader_shape_and_the_token_is_renewed_on_401(env, tmp_path):
    with FixtureServer() as server:
        piste = FakePiste(server, revoke_after=2)
        summary = legifrance.run(params_for(server, tmp_path), out_dir=tmp_path / "processed")
        assert piste.tokens == ["tok-1", "tok-2"]  # the 401 on the 3rd call renewed the token once
        statuses = [r.headers["authorization"] for r in server.requests if r.path.startswith("/api")]
    assert statuses.count("Bearer tok-1") == 3 and statuses.count("Bearer tok-2") == 2
    tree = json.loads((tmp_path / "raw" / f"{CODE}.json").read_text(encoding="utf-8"))
    assert tree["type"] == "code" and tree["data"]["id"] == CODE and tree["data"]["title"] == "Code civil"
    assert tree["data"]["dateModif"] == "2024-01-01"
    titles = [c["data"]["title"] for c in tree["children"]]
    # by intOrdre; the ABROGE section is left out
    assert titles == ["Livre Ier : Des personnes", "Titre préliminaire"]
    articles = [c["data"] for c in tree["children"][1]["children"]]
    assert [a["num"] for a in articles] == ["1", "2"] and articles[0]["id"] == "LEGIARTI000006419280"
    assert set(articles[0]) == set(legifrance.ARTICLE_FIELDS)  # executionTime, surtitre... dropped
    assert all(c["type"] == "article" for c in tree["children"][1]["children"])
    assert summary.rows_out == 3 and summary.extra["tokens_issued"] == 2
    assert summary.extra["articles_by_code"] == {CODE: 3}


def test_rerun_reads_the_cache_and_makes_no_article_call(env, tmp_path):
    with FixtureServer() as server:
        FakePiste(server, revoke_after=100)
        legifrance.run(params_for(server, tmp_path), out_dir=tmp_path / "processed")
        before = len(server.requests)
        summary = legifrance.run(params_for(server, tmp_path), out_dir=tmp_path / "processed")
        api_calls = [r.path for r in server.requests[before:] if r.path.startswith("/api")]
    assert api_calls == [] and summary.extra["articles_fetched"] == 0 and summary.rows_out == 3


def test_failing_article_is_a_reject_and_the_rest_is_kept(env, tmp_path):
    with FixtureServer() as server:
        FakePiste(server, revoke_after=100, failing=frozenset({"LEGIARTI000006419282"}))
        summary = legifrance.run(params_for(server, tmp_path), out_dir=tmp_path / "processed")
    rejects = pl.read_parquet(tmp_path / "processed/fetch_legifrance_rejects.parquet")
    assert rejects.select("origin", "reason").rows() == [("LEGIARTI000006419282", "http_500")]
    assert summary.rows_out == 2


def test_secrets_never_reach_logs_output_or_files(env, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    with FixtureServer() as server:
        FakePiste(server, revoke_after=2, failing=frozenset({"LEGIARTI000006419282"}))
        legifrance.run(params_for(server, tmp_path), out_dir=tmp_path / "processed")
    captured = capsys.readouterr()
    said = caplog.text + captured.out + captured.err
    assert "LEGIARTI000006419282" in said  # the logs did speak (the failing article)...
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(files) >= 5
    for secret in (SECRET, CLIENT_ID, "tok-1", "tok-2"):
        assert secret not in said  # ...but never of secrets
        assert not [p for p in files if secret.encode() in p.read_bytes()]


def test_wrong_credentials_fail_clearly_without_echoing_them(env, tmp_path, monkeypatch):
    monkeypatch.setenv(SECRET_ENV, "wrong-" + SECRET)
    with FixtureServer() as server:
        FakePiste(server)
        with pytest.raises(FetchError) as err:
            legifrance.run(params_for(server, tmp_path), out_dir=tmp_path / "processed")
    assert err.value.reason == "oauth_failed" and "invalid_client" in str(err.value)
    assert SECRET not in str(err.value) and CLIENT_ID not in str(err.value)


def test_missing_credentials_name_the_variables(tmp_path, monkeypatch):
    monkeypatch.delenv(ID_ENV, raising=False)
    monkeypatch.setenv(SECRET_ENV, SECRET)
    with FixtureServer() as server:
        params = params_for(server, tmp_path)
        with pytest.raises(ParamsError) as err:
            legifrance.run(params, out_dir=tmp_path)
        assert server.requests == []
    assert ID_ENV in str(err.value) and SECRET_ENV not in str(err.value) and SECRET not in str(err.value)


def test_secret_env_must_be_a_variable_name_and_a_pasted_secret_is_not_echoed(tmp_path, caplog):
    with FixtureServer() as server:
        params = params_for(server, tmp_path, client_secret_env=SECRET)
        with pytest.raises(ParamsError, match="client_secret_env") as err:
            legifrance.run(params, out_dir=tmp_path)
        assert server.requests == []
    assert SECRET not in str(err.value) and SECRET not in caplog.text


def test_output_is_read_by_the_legifrance_json_reader(env, tmp_path):
    reader = pytest.importorskip("lexqa.ingest.legifrance_json")
    with FixtureServer() as server:
        FakePiste(server, revoke_after=100)
        legifrance.run(params_for(server, tmp_path), out_dir=tmp_path / "processed")
    source = LegifranceJsonSource(
        name="lf", kind="legifrance_json", path=tmp_path / "raw", lang="fr", domain="fr_codes"
    )
    docs = [d for d in reader.read(source) if type(d).__name__ == "Doc"]
    assert sorted(d.number for d in docs) == ["1", "2", "7"]
