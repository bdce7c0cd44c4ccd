"""Every change of configuration goes through a service that writes an audit event:
`rules set` and `keys rotate` (issue 5, 4.5)."""

from __future__ import annotations

import json

from cryptography.fernet import Fernet
from sqlalchemy import select

from shelfware.kit.crypto import load_key_file
from shelfware.models import AuditEvent, Credential
from tests.cli.conftest import MODEL, SECRET, database, invoke


def events(home, action):  # type: ignore[no-untyped-def]
    db = database(home)
    with db.sessions() as session:
        found = [
            (e.actor, e.object_type, e.object_id, e.detail)
            for e in session.scalars(
                select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            )
        ]
    db.dispose()
    return found


def test_rules_set_writes_an_audit_event_with_what_changed(home):
    ran = invoke(
        home, "rules", "set", MODEL, "--threshold-days", "90", "--exclude-user", "Boss@Example.com",
        "--exclude-domain", "contractors.example", "--no-grace", "--notify",
    )  # fmt: skip
    assert ran.code == 0, ran
    assert "threshold days 60 -> 90" in ran.stdout
    [(actor, kind, rule_id, detail)] = events(home, "rule.set")
    assert actor.startswith("cli:") and kind == "rule"
    assert detail["model"] == MODEL
    assert detail["changes"] == {
        "threshold_days": [60, 90],
        "notify": [False, True],
        "new_account_grace": [True, False],
        "excluded_users": [[], ["boss@example.com"]],
        "excluded_domains": [[], ["contractors.example"]],
    }
    [rule] = json.loads(invoke(home, "rules", "list", "--json").stdout)
    assert str(rule["id"]) == rule_id
    assert rule["threshold_days"] == 90 and rule["excluded_users"] == ["boss@example.com"]
    assert rule["new_account_grace"] is False and rule["notify"] is True

    # setting the same values again changes nothing and records nothing
    again = invoke(home, "rules", "set", MODEL, "--threshold-days", "90")
    assert again.code == 0 and "nothing changed" in again.stdout
    assert len(events(home, "rule.set")) == 1
    # an entry can be taken out of an exclusion list
    assert invoke(home, "rules", "set", MODEL, "--include-user", "boss@example.com").code == 0
    assert events(home, "rule.set")[-1][3]["changes"] == {
        "excluded_users": [["boss@example.com"], []]
    }


def test_a_refused_rule_change_records_nothing(home):
    assert invoke(home, "rules", "set", MODEL, "--threshold-days", "0").code == 1
    assert invoke(home, "rules", "set", "No Such Model", "--threshold-days", "9").code == 1
    assert events(home, "rule.set") == []


def test_keys_rotate_reencrypts_every_credential_and_writes_an_audit_event(home):
    old_ring = load_key_file(home / "keys")
    db = database(home)
    with db.sessions() as session:
        [old_cipher] = session.scalars(select(Credential.ciphertext)).all()
    ran = invoke(home, "keys", "rotate")
    assert ran.code == 0, ran
    assert "Re-encrypted 1 credential(s)" in ran.stdout and "2 key(s)" in ran.stdout
    new_ring = load_key_file(home / "keys")
    assert new_ring.keys[1:] == old_ring.keys and new_ring.keys[0] not in old_ring.keys
    with db.sessions() as session:
        [cipher] = session.scalars(select(Credential.ciphertext)).all()
    db.dispose()
    assert cipher != old_cipher
    # the newest key alone decrypts it: really re-encrypted, not just re-labelled
    assert json.loads(Fernet(new_ring.keys[0]).decrypt(cipher.encode())) == {"api_key": SECRET}
    [(actor, kind, _, detail)] = events(home, "keys.rotate")
    assert actor.startswith("cli:") and kind == "key_ring"
    assert detail == {"credentials": 1, "keys": 2}
    assert SECRET not in json.dumps(detail) + ran.stdout + ran.stderr


def test_keys_rotate_with_keys_from_the_environment(home):
    ring = load_key_file(home / "keys")
    newer = Fernet.generate_key()
    env_keys = ",".join(k.decode() for k in [newer, *ring.keys])
    ran = invoke(home, "keys", "rotate", env={"SHELFWARE_SECRET_KEYS": env_keys})
    assert ran.code == 0, ran
    assert load_key_file(home / "keys").keys == ring.keys  # the key file is left alone
    db = database(home)
    with db.sessions() as session:
        [cipher] = session.scalars(select(Credential.ciphertext)).all()
    db.dispose()
    assert json.loads(Fernet(newer).decrypt(cipher.encode())) == {"api_key": SECRET}
    assert events(home, "keys.rotate")[0][3] == {"credentials": 1, "keys": 2}
