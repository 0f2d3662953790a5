"""The audit table refuses UPDATE and DELETE on PostgreSQL, so no code path (admin, shell, a bug) rewrites history.

A row-level BEFORE trigger raises (SQLSTATE P0001, Django's InternalError) on any UPDATE or DELETE of an
``annotation_auditevent`` row; INSERT is untouched, so ``services.audit_log`` works as before.

Two things are left open on purpose:

* TRUNCATE. Django's flush (``manage.py flush``, the test runner between TransactionTestCase /
  ``transactional_db`` / live-server tests) empties PostgreSQL tables with TRUNCATE, which fires no row
  trigger. Refusing it would break those tests and the flush command; truncating is a deliberate
  table-level act by the database owner, not something the application does.
* SQLite. It supports such triggers, but its flush empties tables with DELETE, which the trigger would refuse;
  SQLite is the local development and test database, not where clinical data lives.

A database owner who really must change a row (e.g. a data-protection erasure) disables the trigger
explicitly (``ALTER TABLE annotation_auditevent DISABLE TRIGGER auditevent_append_only``), which is itself a
visible, privileged act.
"""
from django.db import migrations

FUNCTION = "annotation_auditevent_append_only"
TRIGGER = "auditevent_append_only"


def _table(apps, schema_editor) -> str:
    return schema_editor.quote_name(apps.get_model("annotation", "AuditEvent")._meta.db_table)


def trigger_create(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"""
        CREATE OR REPLACE FUNCTION {FUNCTION}() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'the audit log is append-only: % of row % of % refused', TG_OP, OLD.id, TG_TABLE_NAME;
        END;
        $$
    """, params=None)  # None: the % signs are PL/pgSQL's, not query parameters
    schema_editor.execute(f"""
        CREATE TRIGGER {TRIGGER} BEFORE UPDATE OR DELETE ON {_table(apps, schema_editor)}
        FOR EACH ROW EXECUTE FUNCTION {FUNCTION}()
    """)


def trigger_drop(apps, schema_editor):
    if schema_editor.connection.vendor != "postgresql":
        return
    schema_editor.execute(f"DROP TRIGGER IF EXISTS {TRIGGER} ON {_table(apps, schema_editor)}")
    schema_editor.execute(f"DROP FUNCTION IF EXISTS {FUNCTION}()")


class Migration(migrations.Migration):

    dependencies = [
        ("annotation", "0004_trust_membership_origin"),
    ]

    operations = [
        migrations.RunPython(trigger_create, trigger_drop),
    ]
