"""Key rotation: re-encrypt under the newest key while reads keep working."""
from __future__ import annotations

from datetime import date

import sqlalchemy as sa
from cryptography.fernet import Fernet, InvalidToken

from backend.extensions import db
from tests.conftest import ENV, make_app
from tests.factories import VILLAGE_A1, add_resident, id_number_for

ID = id_number_for(date(1966, 6, 6), 606)


def raw_tokens() -> list[str]:
    return [t for row in db.session.execute(sa.text("SELECT id_number_enc, phone_enc FROM residents")) for t in row]


def test_rotate_keys_reencrypts_under_the_newest_key(app, county):
    old_key = ENV["JIAYI_FIELD_KEYS"]
    resident = add_resident("吴建国", ID, "13700001234", VILLAGE_A1)
    new_key = Fernet.generate_key().decode()

    rotated_app = make_app(env={"JIAYI_FIELD_KEYS": f"{new_key},{old_key}"})
    with rotated_app.app_context():
        # With both keys configured the old tokens still read, before any rotation.
        client = rotated_app.test_client()
        headers = county.headers(client, "root")
        assert client.get(f"/api/v1/residents/{resident.id}", headers=headers).status_code == 200
        result = rotated_app.test_cli_runner().invoke(args=["rotate-keys", "--batch-size", "1"])
        assert result.exit_code == 0, result.output
        assert "residents.id_number_enc: 1 re-encrypted" in result.output
        again = rotated_app.test_cli_runner().invoke(args=["rotate-keys"])
        assert "residents.id_number_enc: 0 re-encrypted" in again.output
        tokens = raw_tokens()
        db.session.remove()

    newest_only = Fernet(new_key)
    assert sorted(newest_only.decrypt(t.encode()).decode() for t in tokens) == sorted([ID, "13700001234"])
    for token in tokens:
        try:
            Fernet(old_key).decrypt(token.encode())
            raise AssertionError("still readable with the old key")
        except InvalidToken:
            pass

    # The blind index does not depend on the field keys: lookups still find the resident.
    new_only_app = make_app(env={"JIAYI_FIELD_KEYS": new_key})
    with new_only_app.app_context():
        client = new_only_app.test_client()
        found = client.get(f"/api/v1/residents?q={ID}", headers=county.headers(client, "root")).get_json()
        assert [r["name"] for r in found["items"]] == ["吴建国"]
        db.session.remove()
