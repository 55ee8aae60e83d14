"""A disconnected connection no longer holds its TikTok account: the uniqueness of
(client, account) covers live rows only, so the account can be connected again."""

from django.db import migrations, models
from django.db.models import Q


class Migration(migrations.Migration):

    dependencies = [
        ("django_euler_oauth", "0004_teams"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="connection",
            name="euler_oauth_one_per_account",
        ),
        migrations.AddConstraint(
            model_name="connection",
            constraint=models.UniqueConstraint(
                condition=~Q(external_id="") & ~Q(status="revoked"),
                fields=("client", "external_id"), name="euler_oauth_one_per_account"),
        ),
    ]
