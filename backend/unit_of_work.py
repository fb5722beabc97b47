"""One transaction per write: commit on success, roll back on any failure."""
from __future__ import annotations

import contextlib

from sqlalchemy.exc import IntegrityError

from backend.errors import DomainError
from backend.extensions import db


@contextlib.contextmanager
def unit_of_work(on_integrity_error: DomainError | None = None, *, keep_loaded: bool = False):
    """A failed write changes no row. A constraint violation (a race that the checks
    before it could not see) becomes ``on_integrity_error`` when one is given. With
    ``keep_loaded`` the rows written stay loaded after the commit (the answer is built from what
    was just written, without reading it back)."""
    try:
        yield db.session
        commit(keep_loaded=keep_loaded)
    except IntegrityError:
        db.session.rollback()
        if on_integrity_error is not None:
            raise on_integrity_error from None
        raise
    except BaseException:
        db.session.rollback()
        raise


def commit(*, keep_loaded: bool = False) -> None:
    """Commit the request's session; with ``keep_loaded`` what it loaded stays loaded (else the
    commit expires it, and the next read of an attribute reads the row again)."""
    session = db.session()  # the request's Session behind the scoped proxy
    session.expire_on_commit = not keep_loaded
    try:
        session.commit()
    finally:
        session.expire_on_commit = True
