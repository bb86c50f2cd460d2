"""Customers' name keys again (support/name_keys.py): a word of an Indian script keeps its
vowel signs, where it was cut at each one; words joined by an apostrophe or hyphen are a word
too ("dsouza"); and a word's initial is a key (initials are looked up as names are)."""

from django.db import migrations


def fill_existing(apps, schema_editor):
    from support.name_keys import fill_name_keys  # pure and stable: safe in a migration

    fill_name_keys(schema_editor.connection.database)


class Migration(migrations.Migration):

    dependencies = [
        ('support', '0012_customer_keys_without_own_index'),
    ]

    operations = [
        migrations.RunPython(fill_existing, migrations.RunPython.noop),
    ]
