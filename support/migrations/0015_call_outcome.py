"""`Call.outcome` for the admin (contract section 10): the field postcall/finish.py has always
written, now known to the ORM. State only: django-mongodb-backend's AddField writes the
field's default (null) into every document, which would erase every call's outcome, and
postcall/finish.py writes an outcome only where the record has none (`$exists: false`), which
a null would no longer be; removing it would unset them all. A record without one reads as
None."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("support", "0014_one_warm_escalation_a_call"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AddField(
                    model_name="call",
                    name="outcome",
                    field=models.CharField(blank=True, editable=False, max_length=32, null=True),
                ),
            ],
        ),
        migrations.AddIndex(
            model_name="call",
            index=models.Index(fields=["outcome", "-started_at"], name="calls_outcome_recent"),
        ),
    ]
