"""Goodwill credits and manual refunds (support/goodwill.py): the requests, the leads' limits
(one row, ₹500 of credit per customer per day to start with), the per-customer-per-day credit
counters the cap is enforced on, and who may do what: agents propose, leads also approve and
set the limits."""

import django.db.models.deletion
import django.utils.timezone
import django_mongodb_backend.fields
from django.contrib.auth.management import create_permissions
from django.db import migrations, models

DEFAULT_DAILY_CREDIT_CAP = 50_000  # paise: ₹500
AGENT_CODENAMES = ["view_goodwill", "add_goodwill"]
LEAD_CODENAMES = [*AGENT_CODENAMES, "approve_goodwill", "view_goodwillpolicy",
                  "change_goodwillpolicy"]


def set_up_goodwill(apps, schema_editor):
    apps.get_model("support", "GoodwillPolicy").objects.get_or_create(
        defaults={"daily_credit_cap": DEFAULT_DAILY_CREDIT_CAP}
    )
    # One counter per customer and local day; the cap is a conditional $inc on it.
    schema_editor.connection.database["goodwill_days"].create_index(
        [("user_id", 1), ("day", 1)], unique=True, name="goodwill_days_user_day"
    )
    grant_goodwill(apps, schema_editor)


def grant_goodwill(apps, schema_editor):
    support = apps.get_app_config("support")
    support.models_module = True  # create_permissions skips apps without models
    create_permissions(support, apps=apps, verbosity=0)
    Group = apps.get_model("auth", "Group")
    Permission = apps.get_model("auth", "Permission")
    for name, codenames in (("Support agent", AGENT_CODENAMES), ("Support lead", LEAD_CODENAMES)):
        group = Group.objects.filter(name=name).first()
        if group is not None:
            group.permissions.add(*Permission.objects.filter(
                content_type__app_label="support", codename__in=codenames
            ))


def tear_down_goodwill(apps, schema_editor):
    schema_editor.connection.database["goodwill_days"].drop()


class Migration(migrations.Migration):

    dependencies = [
        ('support', '0006_leads_manage_agents'),
        ('auth', '0001_initial'),
    ]

    operations = [
        migrations.CreateModel(
            name='GoodwillPolicy',
            fields=[
                ('id', django_mongodb_backend.fields.ObjectIdAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('daily_credit_cap', models.BigIntegerField(help_text='paise: the most goodwill credit one customer can get in one day')),
            ],
            options={
                'verbose_name': 'goodwill limits',
                'verbose_name_plural': 'goodwill limits',
                'db_table': 'goodwill_policy',
            },
        ),
        migrations.CreateModel(
            name='Goodwill',
            fields=[
                ('id', django_mongodb_backend.fields.ObjectIdAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('goodwill_id', models.CharField(max_length=32, unique=True)),
                ('kind', models.CharField(choices=[('credit', 'Goodwill credit'), ('refund', 'Manual refund')], max_length=10)),
                ('order_id', models.CharField(blank=True, max_length=32, null=True)),
                ('amount', models.BigIntegerField(help_text='paise')),
                ('reason', models.TextField()),
                ('status', models.CharField(choices=[('proposed', 'Waiting for a lead'), ('approved', 'Approved'), ('rejected', 'Rejected')], default='proposed', max_length=10)),
                ('proposed_by', models.CharField(max_length=150)),
                ('proposed_at', models.DateTimeField(default=django.utils.timezone.now)),
                ('decided_by', models.CharField(blank=True, max_length=150, null=True)),
                ('decided_at', models.DateTimeField(blank=True, null=True)),
                ('decision_note', models.TextField(blank=True, default='')),
                ('refund_id', models.CharField(blank=True, max_length=32, null=True)),
                ('request_key', models.CharField(max_length=64, unique=True)),
                ('customer', models.ForeignKey(db_column='user_id', db_constraint=False, on_delete=django.db.models.deletion.DO_NOTHING, related_name='goodwill', to='support.customer', to_field='user_id')),
            ],
            options={
                'verbose_name': 'goodwill credit or manual refund',
                'verbose_name_plural': 'goodwill credits and manual refunds',
                'db_table': 'goodwill',
                'ordering': ['-proposed_at'],
                'permissions': [('approve_goodwill', 'Can approve goodwill credits and manual refunds')],
                'indexes': [models.Index(fields=['customer', '-proposed_at'], name='goodwill_customer_recent'), models.Index(fields=['status', '-proposed_at'], name='goodwill_status_recent'), models.Index(fields=['goodwill_id'], name='goodwill_goodwill_id')],
            },
        ),
        migrations.RunPython(set_up_goodwill, tear_down_goodwill),
    ]
