from app.paths import normalise
from core import config


def test_paths_are_normalised_before_routing():
    assert normalise("/") == "/"
    assert normalise("/v1/postgres/instances/") == "/v1/postgres/instances"
    assert normalise("/v1/types/postgres/instances") == "/v1/postgres/instances"
    assert normalise("/v1/types/postgres/instances/a/users/") == "/v1/postgres/instances/a/users"
    assert normalise("/v1/types/postgres/instancesX") == "/v1/types/postgres/instancesX"
    assert normalise("/v1/types/postgres/versions/") == "/v1/types/postgres/versions"


def test_configuration_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("DBAAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DBAAS_REDIS_URL", "redis://127.0.0.1:1/0")
    monkeypatch.delenv("DBAAS_DATABASE_URL", raising=False)
    loaded = config.load()
    assert loaded["DATABASE_URL"] == f"sqlite:///{tmp_path / 'dbaas.db'}"
    assert loaded["REDIS_URL"] == "redis://127.0.0.1:1/0"
    assert config.load({"DATABASE_URL": "postgresql+psycopg:///x"})["DATABASE_URL"] == (
        "postgresql+psycopg:///x"
    )


def test_an_unknown_provider_is_refused_by_name(monkeypatch, tmp_path):
    import pytest

    from jobs import providers
    from jobs.worker import preflight

    monkeypatch.setenv("DBAAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DBAAS_PROVIDER", "vmware")
    assert providers.names() == ("libvirt", "nspawn", "static")
    with pytest.raises(ValueError, match="DBAAS_PROVIDER='vmware': not one of libvirt, nspawn"):
        providers.load(config.load())
    assert preflight(config.load()) == [
        "DBAAS_PROVIDER='vmware': not one of libvirt, nspawn, static"
    ]


def test_the_worker_names_what_set_up_has_not_made(tmp_path):
    from jobs.worker import preflight

    missing = tmp_path / "never-set-up"
    assert preflight(config.load({"DATA_DIR": str(missing)})) == [
        f"the data directory {missing} does not exist",
        f"no SSH key for logging in to nodes at {missing}/ssh/id_ed25519",
    ]
    (missing / "ssh").mkdir(parents=True)
    (missing / "ssh" / "id_ed25519").write_text("key")
    assert preflight(config.load({"DATA_DIR": str(missing)})) == []


def test_redis_url_carries_the_password_setup_made(monkeypatch, tmp_path):
    monkeypatch.delenv("DBAAS_REDIS_URL", raising=False)
    assert config.load({"DATA_DIR": str(tmp_path)})["REDIS_URL"] == "redis://127.0.0.1:6379/0"
    (tmp_path / "redis").mkdir()
    (tmp_path / "redis" / "password").write_text("s3cret\n")
    loaded = config.load({"DATA_DIR": str(tmp_path)})
    assert loaded["REDIS_URL"] == "redis://:s3cret@127.0.0.1:6379/0"
    monkeypatch.setenv("DBAAS_REDIS_URL", "redis://:other@10.0.0.1:6379/1")
    assert config.load({"DATA_DIR": str(tmp_path)})["REDIS_URL"].endswith("10.0.0.1:6379/1")


def test_the_secret_key_can_live_outside_the_data_dir(monkeypatch, tmp_path):
    from cryptography.fernet import Fernet

    from core import secrets

    key = Fernet.generate_key()
    (tmp_path / "elsewhere.key").write_bytes(key + b"\n")
    monkeypatch.delenv("DBAAS_SECRET_KEY", raising=False)
    monkeypatch.setenv("DBAAS_SECRET_KEY_FILE", str(tmp_path / "elsewhere.key"))
    data_dir = tmp_path / "data"
    assert secrets._key({"DATA_DIR": str(data_dir)}) == key
    assert not (data_dir / "secret.key").exists()


def test_settings_are_typed_frozen_and_name_what_is_wrong(monkeypatch):
    import dataclasses

    import pytest

    monkeypatch.setenv("DBAAS_HEARTBEAT_INTERVAL", "2.5")
    monkeypatch.setenv("DBAAS_API_TITLE", "not from the environment")
    settings = config.load({"DATA_DIR": "/srv/dbaas"})
    assert settings.HEARTBEAT_INTERVAL == 2.5 and settings["HEARTBEAT_INTERVAL"] == 2.5
    assert settings.API_TITLE.startswith("dbaas")
    assert config.DataDir.of(settings).runs == config.Path("/srv/dbaas/runs")
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.DATA_DIR = "/elsewhere"
    with pytest.raises(ValueError, match="unknown settings: DATA_DIRS"):
        config.load({"DATA_DIRS": "/typo"})
    monkeypatch.setenv("DBAAS_MAX_ATTEMPTS", "three")
    with pytest.raises(ValueError, match="DBAAS_MAX_ATTEMPTS='three': not int"):
        config.load()
