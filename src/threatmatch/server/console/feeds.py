"""Create New → Feed and Edit on a provider's page: the feed provider form (Test feed, Save), one step: a feed has no
query to review. Editing keeps the stored header value unless a new one is typed; Edit on a ThreatStream
provider shows the Anomali form (``console.providers``)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threatmatch.errors import ProviderError, SettingError, ThreatmatchError
from threatmatch.providers.feed.config import (
    DEFAULT_CONFIDENCE,
    DEFAULT_REFRESH_MINUTES,
    FORMATS,
    MIN_REFRESH_MINUTES,
    FeedConfig,
    make_feed_config,
)
from threatmatch.server import providers_view
from threatmatch.server.auth import CSRF_FIELD, Session, check_csrf
from threatmatch.server.console.providers import anomali_edit_page, anomali_edit_submit, settings_saved
from threatmatch.server.console.render import redirect, render
from threatmatch.server.deps import ServiceDep, SessionDep

router = APIRouter()

FEED_LABELS = {
    "name": "Name",
    "url": "Feed URL",
    "format": "Format",
    "column": "Indicator column",
    "itype": "Indicator type (itype)",
    "confidence": "Confidence",
    "refresh_minutes": "Refresh period (min)",
    "header_name": "Request header",
    "header_value": "Header value",
}
_FIELDS = ("name", "url", "format", "column", "itype", "confidence", "refresh_minutes", "header_name")


def _whole(form: dict[str, str], field: str, default: int, errors: dict[str, str]) -> int:
    text = form.get(field, "").strip()
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        errors[field] = f"{FEED_LABELS[field]} must be a whole number, e.g. {default}"
        return default


def build(form: dict[str, str], header_value: str) -> tuple[FeedConfig | None, dict[str, str]]:
    """The config of a submitted form, or the message of each field to fix (the first problem of each)."""
    errors: dict[str, str] = {}
    if not form.get("name", "").strip():
        errors["name"] = "Name is required: it names the p_enrichment key and the lookup table"
    if not form.get("url", "").strip():
        errors["url"] = "Feed URL is required, e.g. https://www.spamhaus.org/drop/drop.txt"
    confidence = _whole(form, "confidence", DEFAULT_CONFIDENCE, errors)
    minutes = _whole(form, "refresh_minutes", DEFAULT_REFRESH_MINUTES, errors)
    if errors:
        return None, errors
    try:
        config = make_feed_config(name=form["name"].strip(), url=form["url"], format=form.get("format") or "lines",
                                  column=form.get("column"), itype=form.get("itype"), confidence=confidence,
                                  refresh_minutes=minutes, header_name=form.get("header_name"),
                                  header_value=header_value)
    except SettingError as exc:
        return None, {exc.field: str(exc)}
    return config, {}


def _page(request: Request, session: Session, form: dict[str, str], *, errors: dict[str, str] | None = None,
          test_result: dict[str, Any] | None = None, status: int = 200, editing: str | None = None,
          header_kept: bool = False) -> Response:
    action = "/enrichments/new/feed" if editing is None else f"/enrichments/{quote(editing, safe='')}/edit"
    return render(request, "feed_form.html", session, status=status, form=form, errors=errors or {},
                  labels=FEED_LABELS, formats=FORMATS, min_refresh=MIN_REFRESH_MINUTES, test_result=test_result,
                  action=action, editing=editing, header_kept=header_kept)


def _stored_form(config: FeedConfig) -> dict[str, str]:
    return {"name": config.name, "url": config.url, "format": config.format, "column": config.column or "",
            "itype": config.itype or "", "confidence": str(config.confidence),
            "refresh_minutes": str(config.refresh_minutes), "header_name": config.header_name or ""}


def _test(config: FeedConfig) -> dict[str, Any]:
    try:
        return providers_view.test_feed(config)
    except ProviderError as exc:
        return {"ok": False, "message": f"Download failed: {exc}"}


@router.get("/enrichments/new/feed")
def feed_form(request: Request, session: SessionDep) -> Response:
    return _page(request, session, {"format": "lines", "confidence": str(DEFAULT_CONFIDENCE),
                                    "refresh_minutes": str(DEFAULT_REFRESH_MINUTES)})


@router.post("/enrichments/new/feed")
async def feed_submit(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    """"Test feed" downloads and reads the feed and shows what it holds; "Save" stores the provider."""
    data = await request.form()
    check_csrf(session, str(data.get(CSRF_FIELD) or ""))
    form = {field: str(data.get(field) or "") for field in _FIELDS}
    header_value = str(data.get("header_value") or "").strip()
    testing = data.get("action") == "test"
    # a test does not need the name yet
    config, errors = build({**form, "name": form["name"] or "feed-test"} if testing else form, header_value)
    if config is not None and not testing and config.name in service.repo().names():
        errors = {"name": f"A provider named {config.name!r} already exists: choose another name"}
    if config is None or errors:
        return _page(request, session, form, errors=errors, status=422)
    if testing:
        return _page(request, session, form, test_result=_test(config))
    try:
        service.repo().add(config)
    except ThreatmatchError as exc:
        return _page(request, session, form, errors={"name": str(exc)}, status=409)
    service.provider_added(config.name)
    return redirect(request, f"/enrichments/{quote(config.name, safe='')}",
                    f"Saved feed provider {config.name!r}. Click Sync now to download its indicators.")


@router.get("/enrichments/{name}/edit")
def provider_edit(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    """Edit from a provider's page: the feed form, or the Anomali form for a ThreatStream provider."""
    config = service.repo().get(name)  # NotFoundError: the 404 page
    if not isinstance(config, FeedConfig):
        return anomali_edit_page(request, session, config)
    return _page(request, session, _stored_form(config), editing=name, header_kept=bool(config.header_name))


@router.post("/enrichments/{name}/edit")
async def provider_edit_submit(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    """Test or Save changed settings (the name stays; an empty header value or token keeps the stored one)."""
    data = await request.form()
    check_csrf(session, str(data.get(CSRF_FIELD) or ""))
    stored = service.repo().get(name)
    if not isinstance(stored, FeedConfig):
        return anomali_edit_submit(request, session, service, stored,
                                   {key: value for key, value in data.items() if isinstance(value, str)})
    form = {**{field: str(data.get(field) or "") for field in _FIELDS}, "name": name}
    typed = str(data.get("header_value") or "").strip()
    header_value = typed or (stored.header_value.reveal() if form["header_name"].strip() else "")
    config, errors = build(form, header_value)
    kept = bool(stored.header_name) and not typed
    if config is None or errors:
        return _page(request, session, form, errors=errors, status=422, editing=name, header_kept=kept)
    if data.get("action") == "test":
        return _page(request, session, form, test_result=_test(config), editing=name, header_kept=kept)
    service.repo().add(config, replace=True)
    return redirect(request, f"/enrichments/{quote(name, safe='')}", settings_saved(name))
