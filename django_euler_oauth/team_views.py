"""The team pages: the owner's invitations and delegations, accepting an
invitation, the owner's audit trail, and the 403 page for a delegate's refusal."""

from __future__ import annotations

import datetime
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.decorators.debug import sensitive_variables
from django.views.decorators.http import require_http_methods, require_POST

from . import errors, teams
from .conf import app_settings
from .endpoints import endpoint_label
from .errors import InvitationRefused, NotDelegated
from .models import AuditEntry, Connection, Delegation, Invitation
from .pages import not_delegated_page
from .params import form_pk, hide
from .scopes import describe

__all__ = ["ACCESS_END_MAX_DAYS", "AUDIT_PAGE_SIZE", "access_end", "audit_trail",
           "not_delegated_page", "outcome_label", "team", "team_join", "team_join_done",
           "team_revoke"]

AUDIT_PAGE_SIZE = 200
#: How far ahead the team page lets an owner set the end of a delegate's access.
ACCESS_END_MAX_DAYS = 3660


def access_end(value: str | None) -> datetime.datetime | None:
    """The end of access for the team page's ``until`` (a date, the whole day included,
    in the current time zone); None when empty, else ``ValidationError``."""
    day = forms.DateField(required=False).clean(value)
    if day is None:
        return None
    today = timezone.localdate() if settings.USE_TZ else datetime.date.today()
    if day > today + datetime.timedelta(days=ACCESS_END_MAX_DAYS):
        raise ValidationError(_("Choose an end of access within ten years."),
                              code="ends_too_late")
    end = datetime.datetime.combine(day, datetime.time.max)
    return timezone.make_aware(end) if settings.USE_TZ else end


def _owned(request: HttpRequest, raw: str | None) -> Connection:
    """The connection ``raw`` names, if the user manages it; else 404."""
    pk = form_pk(raw)
    if pk is None:
        raise Http404
    connection = get_object_or_404(Connection.objects.select_related("client"), pk=pk)
    if not teams.can_manage(request.user, connection):
        raise Http404
    return connection


# Outermost, and for every variable: the link is in the context of every frame that
# renders the page, and Django's report would print them.
@sensitive_variables()
@never_cache
@login_required
@require_http_methods(["GET", "POST"])
def team(request: HttpRequest) -> HttpResponse:
    """The owner's team: create an invitation (POST: ``connection``, ``scope``, optional
    ``until``, the last day of access), list invitations and delegates."""
    link, link_pk = "", None
    if request.method == "POST":
        connection = _owned(request, request.POST.get("connection"))
        try:
            _invitation, token = teams.create_invitation(
                connection, request.POST.getlist("scope"), by=request.user,
                delegation_expires_at=access_end(request.POST.get("until")))
        except ValidationError as err:
            messages.error(request, " ".join(err.messages), fail_silently=True)
        else:
            link = request.build_absolute_uri(
                reverse("euler_oauth:team_join", args=[token]))
            link_pk = connection.pk
    connections = list(Connection.objects.for_user(request.user).active()
                       .select_related("client"))
    for connection in connections:
        # Each scope the owner can share, with what it allows in plain words.
        connection.team_scopes = describe(connection.scope_list)  # type: ignore[attr-defined]
        connection.team_delegations = list(  # type: ignore[attr-defined]
            Delegation.objects.live().filter(connection=connection).select_related("user"))
        connection.team_invitations = list(  # type: ignore[attr-defined]
            Invitation.objects.pending().filter(connection=connection))
    return render(request, "django_euler_oauth/team.html",
                  {"connections": connections, "link": link, "link_pk": link_pk})


@never_cache
@login_required
@require_POST
def team_revoke(request: HttpRequest) -> HttpResponse:
    """End a delegation (``delegation``) or withdraw an invitation (``invitation``)."""
    try:
        if request.POST.get("delegation"):
            delegation = get_object_or_404(Delegation.objects.select_related("connection"),
                                           pk=form_pk(request.POST["delegation"]))
            teams.revoke(delegation, by=request.user)
        else:
            invitation = get_object_or_404(Invitation.objects.select_related("connection"),
                                           pk=form_pk(request.POST.get("invitation")))
            teams.revoke_invitation(invitation, by=request.user)
    except PermissionDenied:
        raise Http404 from None
    messages.success(request, _("Access withdrawn."), fail_silently=True)
    return HttpResponseRedirect(reverse("euler_oauth:team"))


# Outermost, and for every variable: each decorator's frame holds the token in its
# keyword arguments, and Django's report would print them.
@sensitive_variables()
@never_cache
@login_required  # its redirect keeps the link, so the invitation survives signing in
@require_http_methods(["GET", "POST"])
def team_join(request: HttpRequest, token: str) -> HttpResponse:
    """A signed-in user sees an invitation (GET) and accepts it (POST)."""
    hide(request, value=token)
    try:
        invitation = teams.find_invitation(token)
        if request.method == "POST":
            delegation = teams.accept_invitation(token, request.user)
            handle = invitation.connection.external_username
            messages.success(request, _("You are now on the team of @%(name)s.") % {
                "name": handle} if handle else _("You are now on the team of this account."),
                fail_silently=True)
            query = urlencode({"connection": delegation.connection_id})
            return HttpResponseRedirect(f"{reverse('euler_oauth:team_join_done')}?{query}")
    except InvitationRefused as err:
        return render(request, "django_euler_oauth/invitation.html",
                      {"refused": " ".join(err.messages), "code": err.code}, status=410)
    return render(request, "django_euler_oauth/invitation.html",
                  {"invitation": invitation, "connection": invitation.connection,
                   "scopes": describe(invitation.scope_list)})


@never_cache
@login_required
def team_join_done(request: HttpRequest) -> HttpResponse:
    """After accepting: the way on, "Start working on @x" (``?connection=``, one the user
    may use: nobody sees another's), with what the owner shared."""
    pk = form_pk(request.GET.get("connection"))
    connection = None if pk is None else (
        Connection.objects.usable_by(request.user).filter(pk=pk).first())
    scopes: list[tuple[str, str]] = []
    if connection is not None:
        scopes = describe(teams.delegated_scopes(request.user, connection) or [])
    return render(request, "django_euler_oauth/invitation.html", {
        "accepted": True, "connection": connection, "scopes": scopes,
        "next": app_settings.SUCCESS_URL})


def outcome_label(outcome: str) -> str:
    """An audit outcome in plain words: "done", "refused: not delegated", or the error's
    friendly message (an OAuth code or an error class's name); else the outcome as is."""
    if outcome == AuditEntry.OK:
        return _("done")
    if outcome == NotDelegated.code:
        return _("refused: not delegated")
    cls = errors.ERRORS_BY_CODE.get(outcome) or getattr(errors, outcome, None)
    if isinstance(cls, type) and issubclass(cls, errors.EulerOAuthError) and cls.message:
        return str(cls.message)
    return outcome


@never_cache
@login_required
def audit_trail(request: HttpRequest) -> HttpResponse:
    """The trail of the connections the user manages, newest first; ?delegate= (a
    username), ?endpoint=, ?outcome= filter it, each offered from the trail itself.

    "Delegates only" is on by default (``?delegates_only=0`` turns it off): the owner's
    own calls (their own moderation during a busy LIVE) would bury what the team did,
    and the trail stays in time order either way (see docs/teams.md)."""
    owned = Connection.objects.for_user(request.user)
    trail = AuditEntry.objects.filter(connection__in=owned)
    delegates_only = request.GET.get("delegates_only", "1") != "0"
    if delegates_only:  # rows of a since-deleted user (acting_user NULL) stay
        trail = trail.exclude(acting_user=request.user.pk)
    username = "acting_user__" + get_user_model().USERNAME_FIELD
    columns = {"delegate": username, "endpoint": "endpoint", "outcome": "outcome"}
    filters = {key: request.GET[key] for key in columns if request.GET.get(key)}
    entries = trail.filter(**{columns[key]: value for key, value in filters.items()})
    labels: dict[str, Callable[[str], str]] = {
        "delegate": str, "endpoint": endpoint_label, "outcome": outcome_label}
    # Each filter's options: (value, words), by their words.
    choices = {key: sorted(((str(v), labels[key](str(v))) for v in trail.order_by()
                            .values_list(column, flat=True).distinct() if v is not None),
                           key=lambda option: option[1])
               for key, column in columns.items()}
    for key, value in filters.items():  # a value the trail lacks still shows as chosen
        if value not in (option[0] for option in choices[key]):
            choices[key].insert(0, (value, labels[key](value)))
    shown = list(entries.select_related("acting_user", "connection")[:AUDIT_PAGE_SIZE + 1])
    for entry in shown:
        entry.what = endpoint_label(entry.endpoint)  # type: ignore[attr-defined]
        entry.outcome_text = outcome_label(entry.outcome)  # type: ignore[attr-defined]
    return render(request, "django_euler_oauth/audit.html",
                  {"entries": shown[:AUDIT_PAGE_SIZE], "filters": filters,
                   "choices": choices, "capped": len(shown) > AUDIT_PAGE_SIZE,
                   "page_size": AUDIT_PAGE_SIZE, "delegates_only": delegates_only,
                   "own_hidden": delegates_only and not filters and not shown and
                   AuditEntry.objects.filter(connection__in=owned).exists()})
