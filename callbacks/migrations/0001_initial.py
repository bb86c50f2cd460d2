"""The `callbacks` collection, and the two unique indexes that make its booking rules hold
under any number of simultaneous bookings (callbacks/models.py).

Both are partial on `status: "scheduled"` only. Django would add a BSON-type filter of its own
to a UniqueConstraint (see support 0004: "long" skips every 32-bit integer), so they are made
here directly.
"""

from typing import Any

import django.db.models.deletion
import django.utils.timezone
import django_mongodb_backend.fields
from django.db import migrations, models

SCHEDULED_ONLY = {"status": "scheduled"}


def create_booking_indexes(apps: object, schema_editor: Any) -> None:
    callbacks = schema_editor.connection.database["callbacks"]
    callbacks.create_index(
        [("slot_start", 1), ("seat", 1)], name="callbacks_slot_seat", unique=True,
        partialFilterExpression=SCHEDULED_ONLY,
    )
    callbacks.create_index(
        [("user_id", 1), ("local_date", 1)], name="callbacks_customer_day", unique=True,
        partialFilterExpression=SCHEDULED_ONLY,
    )


def drop_booking_indexes(apps: object, schema_editor: Any) -> None:
    callbacks = schema_editor.connection.database["callbacks"]
    for name in ("callbacks_slot_seat", "callbacks_customer_day"):
        callbacks.drop_index(name)


class Migration(migrations.Migration):

    initial = True

    dependencies = [
        ('support', '0010_call_records_and_used_tokens'),
    ]

    operations = [
        migrations.CreateModel(
            name='Callback',
            fields=[
                ('id', django_mongodb_backend.fields.ObjectIdAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('callback_id', models.CharField(max_length=32, unique=True)),
                ('phone', models.CharField(help_text='the number to call, from the customer', max_length=20)),
                ('slot_start', models.DateTimeField(help_text='UTC; the slot lasts 30 minutes')),
                ('local_date', models.CharField(help_text="the slot's date for the customer", max_length=10)),
                ('seat', models.PositiveSmallIntegerField(help_text='the place taken in the slot')),
                ('reason', models.TextField()),
                ('status', models.CharField(choices=[('scheduled', 'Scheduled'), ('done', 'Done'), ('cancelled', 'Cancelled'), ('missed', 'Missed')], default='scheduled', max_length=10)),
                ('call_id', models.CharField(blank=True, default='', help_text='booked in', max_length=64)),
                ('ticket_id', models.CharField(blank=True, max_length=32, null=True)),
                ('assignee', models.CharField(blank=True, max_length=150, null=True)),
                ('created_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('dialled_at', models.DateTimeField(blank=True, null=True)),
                ('call_sid', models.CharField(blank=True, default='', max_length=64)),
                ('closed_at', models.DateTimeField(blank=True, help_text='done, missed or cancelled', null=True)),
                ('customer', models.ForeignKey(db_column='user_id', db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='callbacks', to='support.customer', to_field='user_id')),
            ],
            options={
                'db_table': 'callbacks',
                'ordering': ['slot_start'],
                'indexes': [models.Index(fields=['slot_start'], name='callbacks_slot'), models.Index(fields=['status', 'slot_start'], name='callbacks_status_slot'), models.Index(fields=['customer', 'slot_start'], name='callbacks_customer_slot'), models.Index(fields=['callback_id'], name='callbacks_callback_id')],
            },
        ),
        migrations.RunPython(create_booking_indexes, drop_booking_indexes),
    ]
