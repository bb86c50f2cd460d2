"""A ticket's callbacks, read by id on the ticket's page."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('callbacks', '0004_answered_call_id'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='callback',
            index=models.Index(fields=['ticket_id'], name='callbacks_ticket'),
        ),
    ]
