"""Indexes for the staff lists at scale (bench/bench_staff.py): the newest orders, order and
ticket ids without the partial unique index's type filter, and the queue per priority."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("support", "0004_customer_user_id_unique_for_every_integer"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["-placed_at"], name="orders_recent"),
        ),
        migrations.AddIndex(
            model_name="order",
            index=models.Index(fields=["order_id"], name="orders_order_id"),
        ),
        migrations.AddIndex(
            model_name="escalation",
            index=models.Index(
                fields=["status", "priority", "created_at"], name="escalations_queue_priority"
            ),
        ),
        migrations.AddIndex(
            model_name="escalation",
            index=models.Index(fields=["ticket_id"], name="escalations_ticket_id"),
        ),
    ]
