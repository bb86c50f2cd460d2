"""Customers' name keys (support/name_keys.py): the field, its multikey index, and the keys of
the customers already there."""

import django_mongodb_backend.fields
from django.db import migrations, models


def fill_existing(apps, schema_editor):
    from support.name_keys import fill_name_keys  # pure and stable: safe in a migration

    fill_name_keys(schema_editor.connection.database)


class Migration(migrations.Migration):

    dependencies = [
        ('support', '0008_staff_page_indexes'),
    ]

    operations = [
        migrations.AddField(
            model_name='customer',
            name='name_keys',
            field=django_mongodb_backend.fields.ArrayField(base_field=models.CharField(max_length=24), blank=True, default=list, editable=False),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['name_keys'], name='customers_name_keys'),
        ),
        migrations.RunPython(fill_existing, migrations.RunPython.noop),
    ]
