"""Indexes for the staff pages at scale (bench/bench_staff.py): a call and the tickets it
opened, each customer's refunds, complaints and tickets, ids and phones from the search box
(plain indexes: the unique ones are partial, which SecantusDB's planner never uses), and the
newest complaints and tickets for the dashboard and the exports."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('support', '0007_goodwill'),
    ]

    operations = [
        migrations.AddIndex(
            model_name='call',
            index=models.Index(fields=['call_id'], name='calls_call_id'),
        ),
        migrations.AddIndex(
            model_name='complaint',
            index=models.Index(fields=['-created_at'], name='complaints_recent'),
        ),
        migrations.AddIndex(
            model_name='complaint',
            index=models.Index(fields=['customer', '-created_at'], name='complaints_customer_recent'),
        ),
        migrations.AddIndex(
            model_name='complaint',
            index=models.Index(fields=['complaint_id'], name='complaints_complaint_id'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['phone'], name='customers_phone'),
        ),
        migrations.AddIndex(
            model_name='customer',
            index=models.Index(fields=['email'], name='customers_email'),
        ),
        migrations.AddIndex(
            model_name='escalation',
            index=models.Index(fields=['customer', '-created_at'], name='escalations_customer_recent'),
        ),
        migrations.AddIndex(
            model_name='escalation',
            index=models.Index(fields=['call_id'], name='escalations_call_id'),
        ),
        migrations.AddIndex(
            model_name='escalation',
            index=models.Index(fields=['-created_at'], name='escalations_recent'),
        ),
        migrations.AddIndex(
            model_name='refund',
            index=models.Index(fields=['customer', '-created_at'], name='refunds_customer_recent'),
        ),
        migrations.AddIndex(
            model_name='refund',
            index=models.Index(fields=['refund_id'], name='refunds_refund_id'),
        ),
    ]
