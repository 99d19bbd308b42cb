"""The CLI client's pure parts."""

from app.client import progress_line, with_login

URI = (
    "postgresql://10.0.0.2:5432,10.0.0.3:5432/postgres"
    "?target_session_attrs=read-write&sslmode=verify-full"
)


def test_a_login_goes_into_the_multi_host_uri_without_a_password():
    assert with_login(URI, "app", "app_db") == (
        "postgresql://app@10.0.0.2:5432,10.0.0.3:5432/app_db"
        "?target_session_attrs=read-write&sslmode=verify-full"
    )
    assert with_login(URI, None, "postgres") == URI
    assert with_login(URI, "we@ird", "d b").startswith("postgresql://we%40ird@10.0.0.2")


def test_the_ca_file_goes_into_the_uri_once():
    with_ca = with_login(URI, "app", "app", sslrootcert="/home/me/.dbaas/ca.pem")
    assert with_ca.endswith("sslmode=verify-full&sslrootcert=/home/me/.dbaas/ca.pem")
    again = with_login(with_ca, "app", "app", sslrootcert="/srv/other ca.pem")
    assert again.count("sslrootcert=") == 1
    assert again.endswith("sslrootcert=/srv/other%20ca.pem")


def test_the_progress_line_shows_the_running_task():
    operation = {
        "action": "create",
        "status": "RUNNING",
        "progress": {"done": 12, "total": 31, "task": "Start Patroni", "host": "pg1"},
    }
    assert progress_line({"status": "IN_PROGRESS"}, operation) == (
        "IN_PROGRESS  create 12/31  Start Patroni (pg1)"
    )
    assert progress_line({"status": "ACTIVE"}, dict(operation, status="SUCCEEDED")) == "ACTIVE"
