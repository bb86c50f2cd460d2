"""The labels of an order's status and a complaint's category and status in sentence case, as
the staff pages say them ("Out for delivery", "Food quality", "In review"): Django's default
labels capitalised each word. State only in effect: choices are not stored, and the backend
alters nothing in the collections for them; the values ("out_for_delivery", ...) are as they
were."""

from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ("support", "0016_one_complaint_filed_at_once"),
    ]

    operations = [
        migrations.AlterField(
            model_name="complaint",
            name="category",
            field=models.CharField(choices=[("food_quality", "Food quality"), ("late_delivery", "Late delivery"), ("missing_items", "Missing items"), ("wrong_order", "Wrong order"), ("hygiene", "Hygiene"), ("other", "Other")], max_length=20),
        ),
        migrations.AlterField(
            model_name="complaint",
            name="status",
            field=models.CharField(choices=[("open", "Open"), ("in_review", "In review"), ("resolved", "Resolved")], default="open", max_length=20),
        ),
        migrations.AlterField(
            model_name="order",
            name="status",
            field=models.CharField(choices=[("placed", "Placed"), ("preparing", "Being prepared"), ("out_for_delivery", "Out for delivery"), ("delivered", "Delivered"), ("cancelled", "Cancelled"), ("refunded", "Refunded")], max_length=20),
        ),
    ]
