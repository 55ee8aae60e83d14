"""Several TikTok accounts per user: one connection per client and TikTok account.

The old constraint (one connection per user and client) becomes two: one per client and
account (``external_id``, userinfo's ``uid``) where the account is known, one per user and
client where it is not. Every existing row is kept. Old data can hold one TikTok account on
two users' connections (the old code allowed it): the most recently connected keeps it;
the others keep their row, lose the account (``external_id`` cleared) and move to
``reauthorization_required`` with reason ``account_conflict``, so nothing is moved between
users and their owners are asked to reconnect (which refuses a takeover).
"""

from django.db import migrations, models
from django.db.models import Q


def settle_shared_accounts(apps, schema_editor):  # noqa: ANN001 (migration signature)
    Connection = apps.get_model("django_euler_oauth", "Connection")
    rows = Connection.objects.using(schema_editor.connection.alias)
    shared = (rows.exclude(external_id="").values("client_id", "external_id")
              .annotate(n=models.Count("pk")).filter(n__gt=1))
    for group in shared.iterator():
        holders = rows.filter(client_id=group["client_id"], external_id=group["external_id"])
        keeper = holders.order_by("-connected_at", "-pk").values_list("pk", flat=True)[0]
        holders.exclude(pk=keeper).update(
            external_id="", status="reauthorization_required", status_reason="account_conflict",
            last_error="This TikTok account is connected to another user: reconnect.")


class Migration(migrations.Migration):

    dependencies = [
        ("django_euler_oauth", "0002_oauthclient_api_key"),
    ]

    operations = [
        migrations.AddField(
            model_name="connection",
            name="external_nickname",
            field=models.CharField(blank=True, max_length=100, verbose_name="TikTok nickname"),
        ),
        migrations.AddField(
            model_name="connection",
            name="external_avatar_url",
            field=models.URLField(blank=True, max_length=500, verbose_name="TikTok avatar"),
        ),
        migrations.RemoveConstraint(
            model_name="connection",
            name="euler_oauth_one_per_user",
        ),
        migrations.RunPython(settle_shared_accounts, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="connection",
            constraint=models.UniqueConstraint(
                condition=~Q(external_id=""), fields=("client", "external_id"),
                name="euler_oauth_one_per_account"),
        ),
        migrations.AddConstraint(
            model_name="connection",
            constraint=models.UniqueConstraint(
                condition=Q(external_id=""), fields=("user", "client"),
                name="euler_oauth_one_per_user"),
        ),
    ]
