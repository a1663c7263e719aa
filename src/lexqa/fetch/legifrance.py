"""The ``fetch_legifrance`` stage (optional): whole codes from the Légifrance API (PISTE) as JSON trees.

Needs a PISTE application subscribed to the Légifrance API. Its OAuth2 client id and secret are read from the
environment variables NAMED by ``fetch.legifrance.client_id_env`` / ``client_secret_env`` (default
``PISTE_CLIENT_ID`` / ``PISTE_CLIENT_SECRET``): they are sent to the token endpoint only, never logged, never
written. The bearer token is renewed before it expires and once more when the API answers 401.

For each code: the table of contents at ``date`` (``consult/legi/tableMatieres``), then each article
(``consult/getArticle``), kept in ``cache_dir`` by LEGIARTI id (an article version never changes), so a killed
run resumes where it stopped. The result, ``<out_dir>/<LEGITEXT id>.json``, has the shape the
``legifrance_json`` reader reads (that of @socialgouv/legi-data): ``{"type": "code", "data": {...},
"children": [...]}`` with ``section`` and ``article`` nodes, children in the code's order::

    sources:
      - {name: legifrance, kind: legifrance_json, path: data/raw/legifrance_json, lang: fr, domain: fr_codes}

An article the API will not give (after retries) is a reject, left out of its code; a rerun tries it again.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import re
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from lexqa.config import LegifranceFetchParams, Params, ParamsError
from lexqa.fetch.client import FetchError, PoliteClient
from lexqa.secrets import redact, remember
from lexqa.summary import StageSummary, progress
from lexqa.tables import REJECTS, frame, write_json, write_table

log = logging.getLogger("lexqa.fetch")

STAGE = "fetch_legifrance"
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
TOC_PATH = "consult/legi/tableMatieres"
ARTICLE_PATH = "consult/getArticle"
ARTICLE_FIELDS = (
    "articleVersions",
    "cid",
    "dateDebut",
    "dateDebutExtension",
    "dateFin",
    "dateFinExtension",
    "etat",
    "id",
    "intOrdre",
    "lienModifications",
    "nota",
    "notaHtml",
    "num",
    "texte",
    "texteHtml",
)
"""Article fields kept, as in @socialgouv/legi-data."""


def credentials(p: LegifranceFetchParams) -> tuple[str, str]:
    """The client id and secret from the environment; a missing one names its variable, never a value."""
    for key in ("client_id_env", "client_secret_env"):
        if not _ENV_NAME.fullmatch(getattr(p, key)):
            raise ParamsError(
                f"fetch.legifrance.{key} must be the NAME of an environment variable (upper-case letters, "
                "digits, _), not a credential; its value is not shown"
            )
    missing = [name for name in (p.client_id_env, p.client_secret_env) if not os.environ.get(name)]
    if missing:
        raise ParamsError(
            "fetch_legifrance needs PISTE OAuth credentials: set the environment variable(s) "
            f"{', '.join(missing)} (names from fetch.legifrance.client_id_env / client_secret_env)"
        )
    return os.environ[p.client_id_env], os.environ[p.client_secret_env]


class LegifranceApi:
    """POST JSON to the Légifrance API with a bearer token obtained by OAuth2 client credentials."""

    def __init__(
        self, client: PoliteClient, p: LegifranceFetchParams, client_id: str, client_secret: str
    ) -> None:
        self.client = client
        self.p = p
        self._form = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
            "scope": p.scope,
        }
        self._secrets = (client_id, client_secret)
        self._token: str | None = None
        self._expires = 0.0
        self.tokens_issued = 0

    def _redact(self, text: str) -> str:
        return redact(text, *self._secrets, self._token)

    def token(self, renew: bool = False) -> str:
        """The current bearer token, fetched anew when asked, missing, or within 30 s of expiry."""
        if renew or self._token is None or time.monotonic() > self._expires - 30:
            resp = self.client.request("POST", self.p.oauth_url, data=self._form)
            try:
                body = resp.json()
            except ValueError:
                body = {}
            if resp.status_code != 200 or "access_token" not in body:
                why = body.get("error_description") or body.get("error") or resp.reason_phrase
                raise FetchError(
                    self._redact(
                        f"{self.p.oauth_url}: no token (HTTP {resp.status_code}: {why}); check the PISTE "
                        "application's credentials and its subscription to the Légifrance API"
                    ),
                    "oauth_failed",
                )
            self._token = str(body["access_token"])
            remember(self._token)  # hidden from every later log line and error
            self._expires = time.monotonic() + float(body.get("expires_in") or 3600)
            self.tokens_issued += 1
        return self._token

    def post(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST ``body`` to ``api_url/path``; a 401 renews the token and tries once more."""
        url = f"{self.p.api_url.rstrip('/')}/{path}"
        resp = None
        for renew in (False, True):
            headers = {"Authorization": f"Bearer {self.token(renew)}", "Accept": "application/json"}
            resp = self.client.request("POST", url, json=body, headers=headers)
            if resp.status_code != 401:
                break
            log.info("%s: HTTP 401, renewing the token", path)
        assert resp is not None
        if resp.status_code != 200:
            raise FetchError(
                self._redact(f"{url} {json.dumps(body)}: HTTP {resp.status_code} {resp.text[:200]}"),
                f"http_{resp.status_code}",
            )
        try:
            return resp.json()
        except ValueError:
            raise FetchError(f"{url} {json.dumps(body)}: not JSON", "bad_response") from None


def _bare_id(node_id: str) -> str:
    """Ids in tables of contents may carry a suffix (``LEGITEXT…_01-01-2020``); the id is before ``_``."""
    return node_id.split("_", 1)[0]


def _keep(node: dict[str, Any], in_force_only: bool) -> bool:
    return not in_force_only or str(node.get("etat") or "VIGUEUR").startswith("VIGUEUR")


def _newest_versions(articles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per article ``cid``: the version with the highest id (as @socialgouv/legi-data does)."""
    best: dict[str, dict[str, Any]] = {}
    for art in articles:
        key = art.get("cid") or art["id"]
        if key not in best or _bare_id(art["id"]) > _bare_id(best[key]["id"]):
            best[key] = art
    return [a for a in articles if best[a.get("cid") or a["id"]] is a]


def article_ids(toc: dict[str, Any], in_force_only: bool) -> list[str]:
    """LEGIARTI ids of the articles a code tree will hold, in the code's order."""
    ids: list[str] = []

    def walk(node: dict[str, Any]) -> None:
        ids.extend(
            _bare_id(a["id"]) for a in _newest_versions(node.get("articles") or []) if _keep(a, in_force_only)
        )
        for section in node.get("sections") or []:
            if _keep(section, in_force_only):
                walk(section)

    walk(toc)
    return ids


def build_tree(
    toc: dict[str, Any], article: Callable[[str], dict[str, Any] | None], in_force_only: bool
) -> dict:
    """The code as a ``code`` / ``section`` / ``article`` tree; ``article(id)`` gives an article or None."""

    def node(entry: dict[str, Any], depth: int) -> dict[str, Any]:
        data: dict[str, Any] = {
            "cid": entry.get("cid"),
            "etat": entry.get("etat"),
            "id": _bare_id(str(entry.get("id"))),
            "intOrdre": entry.get("intOrdre") or 0,
            "title": entry.get("title"),
        }
        if depth == 0:
            data["dateModif"] = entry.get("modifDate") or entry.get("dateModif")
            data["dateDebutVersion"] = entry.get("dateDebutVersion")
            data["dateFinVersion"] = entry.get("dateFinVersion")
        else:
            data["dateDebut"] = entry.get("dateDebut")
            data["dateFin"] = entry.get("dateFin")
        children = [node(s, depth + 1) for s in entry.get("sections") or [] if _keep(s, in_force_only)]
        for listed in _newest_versions(entry.get("articles") or []):
            if not _keep(listed, in_force_only) or (full := article(_bare_id(listed["id"]))) is None:
                continue
            fields = {k: full.get(k) for k in ARTICLE_FIELDS}
            fields["intOrdre"] = listed.get("intOrdre", full.get("ordre"))
            children.append({"data": fields, "type": "article"})
        children.sort(key=lambda c: c["data"].get("intOrdre") or 0)
        return {"data": data, "type": "code" if depth == 0 else "section", "children": children}

    return node(toc, 0)


class Cache:
    """API answers on disk: tables of contents by (code, date), articles by LEGIARTI id."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, kind: str, key: str) -> Path:
        return self.root / kind / f"{key}.json"

    def get(self, kind: str, key: str) -> dict[str, Any] | None:
        path = self._path(kind, key)
        try:
            return json.loads(path.read_text(encoding="utf-8")) if path.exists() else None
        except ValueError:
            path.unlink()  # a damaged entry is fetched again
            return None

    def put(self, kind: str, key: str, value: dict[str, Any]) -> None:
        write_json(value, self._path(kind, key))


def fetch_code(
    api: LegifranceApi, cache: Cache, code: str, date: str, summary: StageSummary
) -> tuple[dict, list]:
    """One code's tree, and reject rows for the articles that could not be fetched."""
    p = api.p
    toc = cache.get("toc", f"{code}_{date}")
    if toc is None:
        toc = api.post(TOC_PATH, {"textId": code, "date": date, "nature": "CODE"})
        cache.put("toc", f"{code}_{date}", toc)
    rejects = []
    articles: dict[str, dict[str, Any]] = {}
    fetched = 0
    for art_id in progress(article_ids(toc, p.in_force_only), desc=f"fetch {code}", unit="article"):
        summary.rows_in += 1
        found = cache.get("article", art_id)
        if found is None:
            try:
                answer = api.post(ARTICLE_PATH, {"id": art_id})
            except FetchError as exc:
                rejects.append(_reject(code, art_id, exc.reason, str(exc)))
                summary.reject(exc.reason)
                log.warning("%s: %s", art_id, exc)
                continue
            found = answer.get("article") if isinstance(answer.get("article"), dict) else None
            if found is None:
                rejects.append(
                    _reject(code, art_id, "bad_response", f"no 'article' in the answer: {list(answer)}")
                )
                summary.reject("bad_response")
                continue
            cache.put("article", art_id, found)
            fetched += 1
        articles[art_id] = found
    summary.extra.setdefault("articles_fetched", 0)
    summary.extra["articles_fetched"] += fetched
    return build_tree(toc, articles.get, p.in_force_only), rejects


def _reject(code: str, art_id: str, reason: str, detail: str) -> dict:
    return {"stage": STAGE, "source": code, "origin": art_id, "reason": reason, "detail": detail}


def _count_articles(tree: dict[str, Any]) -> int:
    if tree["type"] == "article":
        return 1
    return sum(_count_articles(c) for c in tree.get("children", []))


def run(params: Params, out_dir: str | Path = "data/processed") -> StageSummary:
    """Run the stage: a JSON per code in ``fetch.legifrance.out_dir``, rejects + summary in ``out_dir``."""
    p = params.fetch.legifrance
    out = Path(out_dir)
    client_id, client_secret = credentials(p)
    date = (p.date or dt.date.today()).isoformat()
    summary = StageSummary(STAGE)
    summary.extra["date"] = date
    cache = Cache(p.cache_dir)
    rejects: list[dict] = []
    per_code: dict[str, int] = {}
    with PoliteClient(params.fetch.http, p.requests_per_second) as client:
        api = LegifranceApi(client, p, client_id, client_secret)
        for code in p.codes:
            tree, code_rejects = fetch_code(api, cache, code, date, summary)
            rejects += code_rejects
            per_code[code] = _count_articles(tree)
            write_json(tree, p.out_dir / f"{code}.json")
        summary.extra["http"] = client.stats.as_dict()
        summary.extra["tokens_issued"] = api.tokens_issued
    summary.rows_out = sum(per_code.values())
    summary.extra["articles_by_code"] = per_code
    write_table(frame(rejects, REJECTS), out / f"{STAGE}_rejects.parquet", REJECTS)
    summary.finish(out / f"{STAGE}_summary.json")
    return summary
