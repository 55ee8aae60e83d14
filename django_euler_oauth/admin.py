"""Admin screens: OAuth clients (secret write-only) and users' connections."""

from __future__ import annotations

from typing import Any

import django
from django import forms
from django.apps import apps
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AdminTextareaWidget
from django.contrib.auth import get_permission_codename
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils.decorators import method_decorator
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.debug import sensitive_post_parameters, sensitive_variables

from . import teams
from .endpoints import endpoint_label
from .errors import EulerOAuthError
from .models import AuditEntry, Connection, Delegation, OAuthClient
from .refresh import refresh_connection
from .registration import check_client
from .revocation import disconnect
from .team_views import outcome_label
from .templatetags.euler_oauth import time_left, when


def _https(db_field: Any, kwargs: dict[str, Any]) -> dict[str, Any]:
    """Endpoint fields assume https:// when typed without a scheme (Django 5+)."""
    if isinstance(db_field, models.URLField) and django.VERSION >= (5, 0):
        kwargs.setdefault("assume_scheme", "https")
    return kwargs


def _formfield(db_field: Any, **kwargs: Any) -> Any:
    return db_field.formfield(**_https(db_field, kwargs))


#: The admin form fields that take a secret (hidden in error reports).
SECRET_FIELDS = ("new_client_secret", "new_api_key")


class OAuthClientForm(forms.ModelForm):
    # Write-only: the stored secret is never rendered; leave blank to keep it.
    new_client_secret = forms.CharField(
        label=_("Client secret"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only. Leave blank to keep the stored secret."),
    )
    # The account API key (X-Api-Key) is write-only too.
    new_api_key = forms.CharField(
        label=_("API key"), required=False, strip=True,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        help_text=_("Write-only. Leave blank to keep the stored key "
                    "(none stored: EULER_OAUTH_API_KEY is used)."),
    )
    clear_api_key = forms.BooleanField(label=_("Remove the stored API key"), required=False)

    class Meta:
        model = OAuthClient
        formfield_callback = _formfield
        fields = ("name", "slug", "client_id", "scopes", "redirect_uri", "is_active",
                  "authorize_url", "token_url", "revoke_url", "api_base_url", "use_pkce",
                  "request_format", "token_transport", "fetch_userinfo", "websocket_url",
                  "account_id")
        # A dozen scopes run to 200 characters: a box as wide as the admin's text areas,
        # wrapping, shows them all (a one-line input showed the first three).
        widgets = {"scopes": AdminTextareaWidget(attrs={"rows": 3})}

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["new_client_secret"]
        # The raw column value: "" or ciphertext. Said, never shown, never decrypted.
        stored = bool(self.instance.__dict__.get("client_secret"))
        if self.instance.pk and stored:
            field.help_text = _("A secret is stored. Write-only: leave blank to keep it, "
                                "or type a new one to replace it.")
        elif self.instance.pk:
            field.help_text = _("No secret stored. Type the client secret from the "
                                "Euler Stream dashboard.")

    def clean_scopes(self) -> str:
        """The scopes on one line, one space apart (the box lets lines break)."""
        return " ".join(str(self.cleaned_data.get("scopes") or "").split())

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not self.instance.pk and not cleaned.get("new_client_secret"):
            self.add_error("new_client_secret", _("A new OAuth client needs its secret."))
        return cleaned

    def save(self, commit: bool = True) -> OAuthClient:
        secret = self.cleaned_data.get("new_client_secret")
        if secret:
            self.instance.client_secret = secret
        api_key = self.cleaned_data.get("new_api_key")
        if api_key:
            self.instance.api_key = api_key
        elif self.cleaned_data.get("clear_api_key"):
            self.instance.api_key = ""
        return super().save(commit=commit)


@admin.register(OAuthClient)
class OAuthClientAdmin(admin.ModelAdmin):
    form = OAuthClientForm
    list_display = ("name", "slug", "client_id", "is_active")
    list_filter = ("is_active", "use_pkce", "request_format", "token_transport")
    search_fields = ("name", "slug", "client_id")
    prepopulated_fields = {"slug": ("name",)}

    def formfield_for_dbfield(self, db_field: Any, request: HttpRequest,
                              **kwargs: Any) -> Any:
        return super().formfield_for_dbfield(db_field, request, **_https(db_field, kwargs))

    # Add and change (both run changeform_view): the typed secret and API key stay out of
    # error reports. POST: the form's secret fields. Frames: every local of this view and
    # of what it calls, because the plaintext passes through Django's own save frames
    # (``values``, ``val``, ``value``) and ours (``plaintext``; the keys in ``keys``)
    # under names no list of ours could keep up with.
    @method_decorator(sensitive_post_parameters(*SECRET_FIELDS))
    @method_decorator(sensitive_variables())
    def changeform_view(self, request: HttpRequest, object_id: str | None = None,
                        form_url: str = "", extra_context: dict[str, Any] | None = None
                        ) -> HttpResponse:
        return super().changeform_view(request, object_id, form_url, extra_context)

    fieldsets = (
        (None, {"fields": ("name", "slug", "client_id", "new_client_secret", "scopes",
                           "redirect_uri", "is_active")}),
        (_("Endpoints"), {"fields": ("authorize_url", "token_url", "revoke_url",
                                     "api_base_url")}),
        (_("Protocol"), {"fields": ("use_pkce", "request_format", "token_transport",
                                    "new_api_key", "clear_api_key", "fetch_userinfo")}),
        (_("LIVE events"), {"fields": ("websocket_url", "account_id")}),
    )
    actions = ("check_with_euler",)

    @admin.action(description=_("Check with Euler Stream"), permissions=["view"])
    def check_with_euler(self, request: HttpRequest,
                         queryset: QuerySet[OAuthClient]) -> None:
        """Ask Euler about each client: known, callback registered, scopes supported."""
        callback = request.build_absolute_uri(reverse("euler_oauth:callback"))
        for client in queryset.order_by("slug"):
            report = check_client(client, callback_url=callback)
            self.message_user(request, f"{client.slug}: " + " ".join(report.findings()),
                              messages.SUCCESS if report.ok else messages.ERROR)


class NeedsAttentionFilter(admin.SimpleListFilter):
    title = _("needs attention")
    parameter_name = "attention"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, Any]]:
        return [("reauth", _("Re-authorization required")),
                ("failing", _("Last refresh failed"))]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "reauth":
            return queryset.filter(status=Connection.Status.REAUTHORIZATION_REQUIRED)
        if self.value() == "failing":
            return queryset.filter(status=Connection.Status.ACTIVE).exclude(last_error="")
        return queryset


class EulerConnectionInline(admin.TabularInline):
    """A user's TikTok connections, read-only, for the site's user admin::

        from django_euler_oauth.admin import EulerConnectionInline

        class UserAdmin(auth_admin.UserAdmin):
            inlines = [*auth_admin.UserAdmin.inlines, EulerConnectionInline]
    """

    model = Connection
    fk_name = "user"
    extra = 0
    can_delete = False
    show_change_link = True
    fields = ("client", "external_username", "external_id", "status", "connected_at")
    readonly_fields = fields
    verbose_name_plural = _("TikTok connections")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Connection)
class ConnectionAdmin(admin.ModelAdmin):
    # Few, short columns: the list fits beside the filters (clients: a filter; scopes and
    # errors: on the connection's page).
    list_display = ("user", "account", "state", "access_left", "refresh_left")
    list_filter = ("status", NeedsAttentionFilter, "client")
    # A user's connections: search by username (or the list's user link); an account by
    # its uid, the only thing that identifies it.
    search_fields = ("user__username", "user__email", "external_username", "=external_id")
    list_select_related = ("user", "client")
    # Tokens are never shown, in forms or lists.
    exclude = ("access_token", "refresh_token", "external_avatar_url")
    readonly_fields = ("user", "client", "account", "scope", "status", "status_reason",
                       "last_error", "expires_at", "access_left", "refresh_expires_at",
                       "refresh_left", "connected_at", "refreshed_at", "external_id",
                       "external_username", "external_nickname", "avatar")
    actions = ("refresh_now", "revoke", "live_start", "live_stop")

    #: The actions of the opt-in LIVE app, offered only when it is installed.
    LIVE_ACTIONS = ("live_start", "live_stop")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # connections come from the OAuth flow only

    def get_actions(self, request: HttpRequest) -> dict[str, Any]:
        actions = super().get_actions(request)
        if not apps.is_installed("django_euler_oauth.live"):
            for name in self.LIVE_ACTIONS:
                actions.pop(name, None)
        return actions

    @admin.display(description=_("TikTok account"))
    def account(self, obj: Connection) -> str:
        if not obj.external_username:
            return "—"
        return format_html("@{} <small>({})</small>", obj.external_username,
                           obj.external_id or "?")

    @admin.display(description=_("TikTok avatar"))
    def avatar(self, obj: Connection) -> str:
        if not obj.external_avatar_url:
            return "—"
        return format_html('<img src="{}" alt="" width="48" height="48">',
                           obj.external_avatar_url)

    def change_view(self, request: HttpRequest, object_id: str, form_url: str = "",
                    extra_context: dict[str, Any] | None = None) -> HttpResponse:
        # Every field is read-only: no Save buttons (actions change connections).
        extra_context = {**(extra_context or {}), "show_save": False,
                         "show_save_and_continue": False,
                         "show_save_and_add_another": False}
        return super().change_view(request, object_id, form_url, extra_context)

    @admin.display(description=_("status"), ordering="status")
    def state(self, obj: Connection) -> str:
        if obj.status == Connection.Status.ACTIVE and obj.last_error:
            return _("%(status)s, last refresh failed") % {"status": obj.get_status_display()}
        return str(obj.get_status_display())

    @staticmethod
    def _life(obj: Connection, delta: Any) -> str:
        # A connection that needs re-authorization or is revoked has no tokens left.
        if obj.status != Connection.Status.ACTIVE:
            return "—"
        return time_left(delta)

    @admin.display(description=_("access token left"), ordering="expires_at")
    def access_left(self, obj: Connection) -> str:
        return self._life(obj, obj.access_time_left)

    @admin.display(description=_("refresh token left"), ordering="refresh_expires_at")
    def refresh_left(self, obj: Connection) -> str:
        return self._life(obj, obj.refresh_time_left)

    @admin.action(description=_("Refresh tokens now"), permissions=["change"])
    def refresh_now(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        done = failed = 0
        for connection in queryset.select_related("client"):
            try:
                refresh_connection(connection, force=True)
                done += 1
            except EulerOAuthError as err:
                failed += 1
                self.message_user(request, f"{connection!s}: {err.friendly_message} "
                                  f"({err.code or type(err).__name__})", messages.WARNING)
        if done:
            self.message_user(request, ngettext("Refreshed %d connection.",
                                                "Refreshed %d connections.", done) % done,
                              messages.SUCCESS)

    @admin.action(description=_("Revoke and disconnect"), permissions=["change"])
    def revoke(self, request: HttpRequest,
               queryset: QuerySet[Connection]) -> TemplateResponse | None:
        if not request.POST.get("post"):  # Django's intermediate confirmation page
            opts = self.model._meta
            context = {
                **self.admin_site.each_context(request),
                "title": _("Revoke and disconnect: are you sure?"),
                "opts": opts,
                "app_label": opts.app_label,
                "connections": queryset.select_related("user", "client"),
                "already_revoked": queryset.filter(status=Connection.Status.REVOKED).count(),
                "queryset": queryset,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "media": self.media,
            }
            request.current_app = self.admin_site.name
            return TemplateResponse(
                request, "admin/django_euler_oauth/connection/revoke_confirmation.html",
                context)
        remote_ok = local_only = 0
        for connection in queryset.exclude(status=Connection.Status.REVOKED):
            if disconnect(connection, request=request):
                remote_ok += 1
            else:
                local_only += 1
        if remote_ok:
            self.message_user(request, ngettext("Revoked %d connection.",
                                                "Revoked %d connections.", remote_ok)
                              % remote_ok, messages.SUCCESS)
        if local_only:
            self.message_user(request, ngettext(
                "%d connection was disconnected here, but the provider could not confirm "
                "the revocation.", "%d connections were disconnected here, but the provider "
                "could not confirm the revocation.", local_only) % local_only,
                messages.WARNING)
        return None

    @admin.action(description=_("Listen to LIVE events"), permissions=["change"])
    def live_start(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        from .live import start

        done = 0
        for connection in queryset.select_related("client"):
            try:
                start(connection)
            except ValueError as err:
                self.message_user(request, f"{connection!s}: {err}", messages.WARNING)
            else:
                done += 1
        if done:
            self.message_user(request, ngettext(
                "Listening to the LIVE events of %d connection.",
                "Listening to the LIVE events of %d connections.", done) % done,
                messages.SUCCESS)

    @admin.action(description=_("Stop listening"), permissions=["change"])
    def live_stop(self, request: HttpRequest, queryset: QuerySet[Connection]) -> None:
        from .live import stop

        done = sum(1 for connection in queryset if stop(connection))
        self.message_user(request, ngettext(
            "Stopped listening to the LIVE events of %d connection.",
            "Stopped listening to the LIVE events of %d connections.", done) % done,
            messages.SUCCESS if done else messages.INFO)


# -- teams ---------------------------------------------------------------------

class ViewOnlyAdmin(admin.ModelAdmin):
    """Rows kept as a record: listed and viewed, never added, edited or deleted here (their
    changes go through the app's own functions, which send signals and check who acts)."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Delegation)
class DelegationAdmin(ViewOnlyAdmin):
    """Delegations, viewed and revoked. Granting is the owner's act (the team page, an
    invitation, :func:`~django_euler_oauth.teams.grant`): nothing is added or edited here."""

    list_display = ["connection", "user", "scopes", "created_by", "created_at", "expires_at",
                    "revoked_at"]
    list_filter = ["revoked_at"]
    search_fields = ["user__username", "connection__external_username"]
    readonly_fields = ("connection", "user", "scopes", "created_by", "created_at",
                       "expires_at", "revoked_at")
    fields = readonly_fields
    # A grant is not edited in place (revoke it, and the owner grants again), and deleting
    # would skip delegation_revoked and erase who had access: revoking is the one action.
    actions = ["revoke_selected"]

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        """Who may run ``revoke_selected``: staff holding ``change_delegation`` (what
        :func:`~django_euler_oauth.teams.can_manage` asks of a manager who is not the
        owner)."""
        opts = self.opts
        return request.user.has_perm(
            f"{opts.app_label}.{get_permission_codename('change', opts)}")

    @admin.action(description=_("Revoke the selected delegations"),
                  permissions=["revoke"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[Delegation]) -> None:
        ended = sum(teams.revoke(d, by=request.user)
                    for d in queryset.select_related("connection"))
        self.message_user(request, ngettext("%d delegation revoked.",
                                            "%d delegations revoked.", ended) % ended)


@admin.register(AuditEntry)
class AuditEntryAdmin(ViewOnlyAdmin):
    """The trail is evidence: no delete page or action, not even for a superuser. Old rows
    go with ``audit.prune`` / the ``euler_oauth_prune_audit`` command."""

    # Five short columns, so the list fits beside the filters at 1280 px: the account's
    # handle (not the connection's long name), what was done in words with its target
    # under it (the endpoint's name in the tooltip), the outcome in words.
    list_display = ["moment", "account", "acting_user", "what", "outcome_text"]
    # Only the users who appear in the trail, not every user of the site.
    list_filter = [("acting_user", admin.RelatedOnlyFieldListFilter), "endpoint", "outcome"]
    date_hierarchy = "created_at"

    def get_queryset(self, request: HttpRequest) -> QuerySet[AuditEntry]:
        return super().get_queryset(request).select_related("connection", "acting_user")

    @admin.display(description=_("time"), ordering="created_at")
    def moment(self, obj: AuditEntry) -> str:
        return when(obj.created_at)

    @admin.display(description=_("TikTok account"), ordering="connection__external_username")
    def account(self, obj: AuditEntry) -> str:
        handle = obj.connection.external_username
        return f"@{handle}" if handle else str(obj.connection_id)

    @admin.display(description=_("endpoint"), ordering="endpoint")
    def what(self, obj: AuditEntry) -> str:
        label = format_html('<span title="{}">{}</span>', obj.endpoint,
                            endpoint_label(obj.endpoint))
        return format_html("{}<br><small>{}</small>", label, obj.target) if obj.target \
            else label

    @admin.display(description=_("outcome"), ordering="outcome")
    def outcome_text(self, obj: AuditEntry) -> str:
        return outcome_label(obj.outcome)
