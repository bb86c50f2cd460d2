"""The customer foreign keys lose the plain `user_id` index Django made for each: every one of
these collections leads a compound index with `user_id` (`*_customer_recent`,
`calls_customer_open`), which serves each lookup by customer, so the plain one only cost every
write (see Customer.Meta)."""

import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('support', '0011_live_call_permissions'),
    ]

    operations = [
        migrations.AlterField(
            model_name='call',
            name='customer',
            field=models.ForeignKey(blank=True, db_column='user_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='calls', to='support.customer', to_field='user_id'),
        ),
        migrations.AlterField(
            model_name='complaint',
            name='customer',
            field=models.ForeignKey(blank=True, db_column='user_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='complaints', to='support.customer', to_field='user_id'),
        ),
        migrations.AlterField(
            model_name='escalation',
            name='customer',
            field=models.ForeignKey(blank=True, db_column='user_id', db_constraint=False, db_index=False, null=True, on_delete=django.db.models.deletion.DO_NOTHING, related_name='escalations', to='support.customer', to_field='user_id'),
        ),
        migrations.AlterField(
            model_name='goodwill',
            name='customer',
            field=models.ForeignKey(db_column='user_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='goodwill', to='support.customer', to_field='user_id'),
        ),
        migrations.AlterField(
            model_name='order',
            name='customer',
            field=models.ForeignKey(db_column='user_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='orders', to='support.customer', to_field='user_id'),
        ),
        migrations.AlterField(
            model_name='refund',
            name='customer',
            field=models.ForeignKey(db_column='user_id', db_constraint=False, db_index=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='refunds', to='support.customer', to_field='user_id'),
        ),
    ]
