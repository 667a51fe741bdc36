# Course codes unique ignoring case, and failed token requests (for the token endpoint's throttle).
#
# A database made before this could hold codes that differ only in case (`DEMO` beside `demo`):
# the constraint could not be created over them and the migration would stop every deployment.
# Instead the oldest course of each such group keeps its code and each later one gets a free
# `-2`, `-3`... suffix (`DEMO-2`), with an audit entry on the course saying what it was, and a
# warning in the migration's log. Nothing is deleted or merged: which course is the "real" one
# is for its instructors to decide, and they can rename it again (API or admin).

import logging

import django.db.models.functions.text
import django.utils.timezone
from django.db import migrations, models

logger = logging.getLogger(__name__)
CODE_LENGTH = 40  # Course.code's max_length


def rename_codes_equal_ignoring_case(apps, schema_editor):
    Course = apps.get_model("exercises", "Course")
    AuditEntry = apps.get_model("exercises", "AuditEntry")
    courses = Course.objects.using(schema_editor.connection.alias)
    taken: set[str] = set()
    later: list = []
    for course in courses.order_by("created_at", "id"):
        if course.code.lower() in taken:
            later.append(course)
        else:
            taken.add(course.code.lower())
    for course in later:
        old = course.code
        number = 2
        while True:
            suffix = f"-{number}"
            new = old[: CODE_LENGTH - len(suffix)] + suffix
            if new.lower() not in taken:
                break
            number += 1
        taken.add(new.lower())
        course.code = new
        course.save(update_fields=["code"])
        AuditEntry.objects.using(schema_editor.connection.alias).create(
            actor=None,
            course=course,
            action="course_code_renamed",
            details={"old": old, "new": new, "reason": "another course has the same code ignoring case"},
        )
        logger.warning("course %s: code %r renamed %r (another course has it ignoring case)", course.pk, old, new)


class Migration(migrations.Migration):

    dependencies = [
        ('exercises', '0009_audit_entry_plural'),
    ]

    operations = [
        migrations.RunPython(rename_codes_equal_ignoring_case, migrations.RunPython.noop, elidable=True),
        migrations.AddConstraint(
            model_name='course',
            constraint=models.UniqueConstraint(
                django.db.models.functions.text.Lower('code'),
                name='course_code_unique_ignoring_case',
                violation_error_message='A course with this code exists (codes are compared ignoring case).',
            ),
        ),
        migrations.CreateModel(
            name='TokenFailure',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('address', models.CharField(max_length=100)),
                ('failed_at', models.DateTimeField(db_index=True, default=django.utils.timezone.now)),
            ],
        ),
        migrations.AddIndex(
            model_name='tokenfailure',
            index=models.Index(fields=['address', 'failed_at'], name='token_failure_by_address'),
        ),
    ]
