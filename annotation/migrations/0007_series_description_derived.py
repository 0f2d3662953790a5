"""Series descriptions copied from the original headers before the PS3.15 profile (which removes them) are replaced
by the description derived from the image, as new imports store it (annotation.deid.derived_series_description;
written out here because a migration must not change when that code does)."""
import re

from django.db import migrations


def derive(apps, schema_editor):
    Series = apps.get_model("annotation", "Series")
    for series in Series.objects.select_related("case").iterator():
        modality = series.case.modality or ""
        label = series.sequence or (modality if re.fullmatch(r"[A-Z]{2,4}", modality) else "")
        derived = f"{label} {series.plane}".strip()
        if series.description != derived:
            Series.objects.filter(pk=series.pk).update(description=derived)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0006_burned_in_review")]

    operations = [migrations.RunPython(derive, migrations.RunPython.noop)]
