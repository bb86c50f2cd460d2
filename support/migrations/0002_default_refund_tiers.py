"""The refund tiers of contract section 6, as the starting point staff can edit."""

from django.db import migrations

# Lifetime spend thresholds in paise (₹10,000 = 1,000,000 paise).
DEFAULT_TIERS = [
    ("Platinum", 1_000_000, 100),
    ("Gold", 500_000, 75),
    ("Silver", 200_000, 50),
    ("Bronze", 0, 30),
]


def create_default_tiers(apps, schema_editor):
    RefundTier = apps.get_model("support", "RefundTier")
    for name, min_spend, percent in DEFAULT_TIERS:
        RefundTier.objects.get_or_create(
            name=name, defaults={"min_lifetime_spend": min_spend, "percent": percent}
        )


def remove_default_tiers(apps, schema_editor):
    RefundTier = apps.get_model("support", "RefundTier")
    RefundTier.objects.filter(name__in=[name for name, _, _ in DEFAULT_TIERS]).delete()


class Migration(migrations.Migration):
    dependencies = [("support", "0001_initial")]

    operations = [migrations.RunPython(create_default_tiers, remove_default_tiers)]
