from app import config
from app.paths import normalise


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

    monkeypatch.setenv("DBAAS_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("DBAAS_PROVIDER", "vmware")
    with pytest.raises(ValueError, match="DBAAS_PROVIDER='vmware': not one of nspawn, libvirt"):
        config.load()
