"""How a dial nobody answered ended (Twilio's StatusCallback), and the callback by its CallSid."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('callbacks', '0005_ticket_index'),
    ]

    operations = [
        migrations.AddField(
            model_name='callback',
            name='dial_status',
            field=models.CharField(blank=True, default='', help_text='how a dial nobody answered ended', max_length=16),
        ),
        migrations.AddIndex(
            model_name='callback',
            index=models.Index(fields=['call_sid'], name='callbacks_call_sid'),
        ),
    ]
