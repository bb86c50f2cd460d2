"""The call a dialled customer answered, beside the call the callback was booked in."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('callbacks', '0003_customer_key_without_own_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='callback',
            name='answered_call_id',
            field=models.CharField(blank=True, default='', help_text='the call the customer answered', max_length=64),
        ),
    ]
