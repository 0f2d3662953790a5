# Label Studio links belong to the ML client account that registered them (see LabelStudioLink).

import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('mlbackend', '0001_initial'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.AddField(
            model_name='labelstudiolink',
            name='ml_client',
            field=models.ForeignKey(blank=True, help_text='The ML client account that registered this link at /ml/setup', null=True, on_delete=django.db.models.deletion.CASCADE, related_name='label_studio_links', to=settings.AUTH_USER_MODEL),
        ),
        migrations.AlterField(
            model_name='labelstudiolink',
            name='ls_project',
            field=models.CharField(help_text="Label Studio's project id", max_length=64),
        ),
        migrations.AddIndex(
            model_name='labelstudiolink',
            index=models.Index(fields=['ls_project'], name='label_studio_link_ls_project'),
        ),
        migrations.AddConstraint(
            model_name='labelstudiolink',
            constraint=models.UniqueConstraint(fields=('project', 'ls_project'), name='label_studio_link_unique_project_ls_project'),
        ),
    ]
