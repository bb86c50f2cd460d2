"""Make `customers.user_id` unique for every integer, not only 64-bit ones.

django-mongodb-backend creates unique indexes as partial indexes filtered on the field's
BSON type, and for an IntegerField that type is "long". Drivers write small integers as
32-bit "int", so the filter skipped every real customer and duplicates went in. Every
customer has a user_id, so a plain unique index is the right one.
"""

from django.db import migrations

DJANGO_INDEX = "customers_user_id_28f6c6eb_uniq"
PLAIN_INDEX = "customers_user_id_unique"


def use_plain_unique_index(apps, schema_editor):
    customers = schema_editor.connection.database["customers"]
    if DJANGO_INDEX in customers.index_information():
        customers.drop_index(DJANGO_INDEX)
    customers.create_index("user_id", unique=True, name=PLAIN_INDEX)


def restore_partial_index(apps, schema_editor):
    customers = schema_editor.connection.database["customers"]
    customers.drop_index(PLAIN_INDEX)
    customers.create_index(
        "user_id",
        unique=True,
        name=DJANGO_INDEX,
        partialFilterExpression={"user_id": {"$type": "long"}},
    )


class Migration(migrations.Migration):
    dependencies = [("support", "0003_staff_groups")]

    operations = [migrations.RunPython(use_plain_unique_index, restore_partial_index)]
