"""Create New → Anomali (form, Test connection, Setup, Save), a ThreatStream provider's Edit, the provider page,
Sync now, delete."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from threatmatch.errors import ProviderError, ThreatmatchError
from threatmatch.providers.threatstream.config import ProviderConfig
from threatmatch.server import providers_view
from threatmatch.server.auth import CSRF_FIELD, Session, check_csrf
from threatmatch.server.console.render import redirect, render
from threatmatch.server.deps import ServiceDep, SessionDep
from threatmatch.server.forms import LABELS, QUERY_PLACEHOLDER, ProviderForm, build_config, field_errors
from threatmatch.server.service import Service

router = APIRouter()


async def _form(request: Request, session: Session) -> dict[str, str]:
    data = await request.form()
    check_csrf(session, str(data.get(CSRF_FIELD) or ""))
    return {key: str(value) for key, value in data.items() if isinstance(value, str)}


def _form_page(request: Request, session: Session, form: ProviderForm, *, draft: str = "",
               errors: dict[str, str] | None = None, test_result: dict[str, Any] | None = None,
               token_kept: bool = False, status: int = 200, editing: str | None = None) -> Response:
    action = "/enrichments/new/anomali" if editing is None else _provider_url(editing, "/edit")
    return render(request, "anomali_form.html", session, status=status, form=form, errors=errors or {},
                  labels=LABELS, placeholder=QUERY_PLACEHOLDER, draft=draft, test_result=test_result,
                  token_kept=token_kept, action=action, editing=editing)


def settings_saved(name: str) -> str:
    """What the provider page says after an Edit was saved (either kind)."""
    return f"Saved the settings of {name!r}; the next sync (Sync now, or the schedule) uses them."


def _test_connection(config: ProviderConfig) -> dict[str, Any]:
    try:
        return providers_view.test_connection(config)
    except ProviderError as exc:
        return {"ok": False, "message": f"Connection failed: {exc}"}


def anomali_edit_page(request: Request, session: Session, config: ProviderConfig) -> Response:
    """A ThreatStream provider's settings in its form (the token never shown: left empty, it is kept)."""
    form = ProviderForm(name=config.name, subdomain=config.subdomain or config.base_url, username=config.username,
                        query=config.query, refresh_minutes=str(config.refresh_minutes))
    return _form_page(request, session, form, token_kept=True, editing=config.name)


def anomali_edit_submit(request: Request, session: Session, service: Service, stored: ProviderConfig,
                        data: dict[str, str]) -> Response:
    """Test connection or Save changed settings (the name stays; an empty token keeps the stored one)."""
    form = ProviderForm.from_mapping({**data, "name": stored.name})
    typed = data.get("api_token", "").strip()
    token = typed or stored.token.reveal()
    errors = field_errors(form, token)
    if errors:
        return _form_page(request, session, form, errors=errors, token_kept=not typed, status=422,
                          editing=stored.name)
    config = build_config(form, token)
    if data.get("action") == "test":
        return _form_page(request, session, form, test_result=_test_connection(config), token_kept=not typed,
                          editing=stored.name)
    service.repo().add(config, replace=True)
    return redirect(request, _provider_url(stored.name), settings_saved(stored.name))


@router.get("/enrichments/new")
def choose_kind(request: Request, session: SessionDep) -> Response:
    return render(request, "enrichment_new.html", session)


@router.get("/enrichments/new/anomali")
def anomali_form(request: Request, session: SessionDep, service: ServiceDep, draft: str | None = None) -> Response:
    found = service.drafts.get(session.token_id, draft)
    if found is None:
        return _form_page(request, session, ProviderForm())
    return _form_page(request, session, found.form, draft=draft or "", token_kept=bool(found.token))


@router.post("/enrichments/new/anomali")
async def anomali_submit(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    """"Test connection" re-renders the form with the result; "Setup" validates and shows the review page."""
    data = await _form(request, session)
    form = ProviderForm.from_mapping(data)
    previous = service.drafts.get(session.token_id, data.get("draft"))
    token = data.get("api_token", "").strip() or (previous.token if previous else "")
    errors = field_errors(form, token)
    if data.get("action") == "test":
        errors.pop("name", None)  # a connection test does not need the name yet
    elif form.name and "name" not in errors and form.name in service.repo().names():
        errors["name"] = f"A provider named {form.name!r} already exists: choose another name"
    draft = service.drafts.put(session.token_id, form, token, data.get("draft") or None)
    if errors:
        return _form_page(request, session, form, draft=draft, errors=errors, token_kept=bool(token), status=422)
    config = build_config(form, token)
    if data.get("action") == "test":
        return _form_page(request, session, form, draft=draft, test_result=_test_connection(config),
                          token_kept=bool(token))
    return render(request, "anomali_review.html", session, config=config, labels=LABELS, draft=draft)


@router.post("/enrichments/new/anomali/save")
async def anomali_save(request: Request, session: SessionDep, service: ServiceDep) -> Response:
    data = await _form(request, session)
    draft = service.drafts.get(session.token_id, data.get("draft"))
    if draft is None:
        return redirect(request, "/enrichments/new/anomali", "The setup expired; please fill in the form again.",
                        kind="error")
    errors = field_errors(draft.form, draft.token)
    if errors:
        return _form_page(request, session, draft.form, draft=data.get("draft", ""), errors=errors,
                          token_kept=bool(draft.token), status=422)
    config = build_config(draft.form, draft.token)
    try:
        service.repo().add(config)
    except ThreatmatchError as exc:
        return _form_page(request, session, draft.form, draft=data.get("draft", ""), errors={"name": str(exc)},
                          token_kept=True, status=409)
    service.drafts.discard(data.get("draft", ""))
    service.provider_added(config.name)
    return redirect(request, _provider_url(config.name), f"Saved enrichment provider {config.name!r}. "
                    "Click Sync now to pull its indicators.")


def _provider_url(name: str, suffix: str = "") -> str:
    from urllib.parse import quote

    return f"/enrichments/{quote(name, safe='')}{suffix}"


def provider_context(service: Service, name: str) -> dict[str, Any]:
    settings = providers_view.provider(service, name)
    return {"provider": settings, "state": settings["status"], "log_types": service.enriched_log_types(name),
            "provider_url": _provider_url(name)}


@router.get("/enrichments/{name}")
def provider_page(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    return render(request, "provider.html", session, labels=LABELS, **provider_context(service, name))


@router.post("/enrichments/{name}/sync")
async def sync_now(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    await _form(request, session)
    service.repo().public(name)
    outcome = service.sync_in_background(name, wait_s=15.0)
    return redirect(request, _provider_url(name), outcome.message, kind="ok" if outcome.ok else "error")


@router.post("/enrichments/{name}/delete")
async def delete(request: Request, name: str, session: SessionDep, service: ServiceDep) -> Response:
    await _form(request, session)
    service.repo().remove(name)
    service.provider_removed(name)
    return redirect(request, "/enrichments", f"Deleted enrichment provider {name!r} and its stored data.")
