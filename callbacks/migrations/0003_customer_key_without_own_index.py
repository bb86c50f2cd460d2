"""The customer foreign key loses its plain `user_id` index: `callbacks_customer_slot` leads
with `user_id` and serves each lookup by customer (see support.models.Customer.Meta)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('callbacks', '0002_staff_permissions'),
        ('support', '0012_customer_keys_without_own_index'),
    ]

    operations = [
        migrations.AlterField(
            model_name='callback',
            name='customer',
            field=models.ForeignKey(db_column='user_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='callbacks', to='support.customer', to_field='user_id'),
        ),
    ]
