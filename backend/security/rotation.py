"""Re-encrypt every encrypted column under the newest field key, in small batches.

Reads keep working throughout: MultiFernet decrypts with any configured key, so
the service runs with "new,old" keys while this walks the tables, and the old key
can be dropped once it reports nothing left to rotate.
"""
from __future__ import annotations

import sqlalchemy as sa

from backend.extensions import db
from backend.security.fields import EncryptedText, cipher


def encrypted_columns() -> list[tuple[sa.Table, sa.Column]]:
    return [
        (table, column)
        for table in db.metadata.sorted_tables
        for column in table.columns
        if isinstance(column.type, EncryptedText)
    ]


def rotate_all(batch_size: int = 500) -> dict[str, int]:
    """Rotate every stale token; returns how many were re-encrypted per table.column."""
    field_cipher = cipher()
    counts: dict[str, int] = {}
    for table, column in encrypted_columns():
        (pk,) = table.primary_key.columns
        # Raw tokens, not the decrypted values the model type would give.
        raw = sa.column(column.name, sa.Text)
        last = None
        rotated = 0
        while True:
            query = sa.select(pk, raw).select_from(table).where(raw.is_not(None)).order_by(pk).limit(batch_size)
            if last is not None:
                query = query.where(pk > last)
            rows = db.session.execute(query).all()
            if not rows:
                break
            for key, token in rows:
                if field_cipher.needs_rotation(token):
                    # Only if unchanged meanwhile: a concurrent write already used the newest key.
                    result = db.session.execute(
                        sa.update(table).where(pk == key, raw == token)
                        .values({column.name: sa.literal(field_cipher.rotate(token), sa.Text)})
                    )
                    rotated += result.rowcount
            db.session.commit()
            last = rows[-1][0]
        counts[f"{table.name}.{column.name}"] = rotated
    return counts
