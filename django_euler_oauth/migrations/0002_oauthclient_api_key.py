# Written for OAuthClient.api_key (the Euler account API key, sent as X-Api-Key).

import django_euler_oauth.fields
from django.db import migrations


class Migration(migrations.Migration):

    dependencies = [
        ("django_euler_oauth", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="oauthclient",
            name="api_key",
            field=django_euler_oauth.fields.EncryptedTextField(
                blank=True,
                help_text="Euler account API key sent as X-Api-Key (blank: EULER_OAUTH_API_KEY).",
                verbose_name="API key",
            ),
        ),
    ]
