"""The disk sweep's rule on real records: when a measured data disk is 80 % full, an
update grows it by a quarter (at least 1 GB) up to max_disk_size and within the disk
quota; at the maximum the instance warns instead. (Measuring a real node's disk and
growing it online: the e2e test.)"""

import pytest
from sqlalchemy import select

from core.models import Instance, Node, Operation, Quota, Status
from jobs import disks
from jobs.providers.nspawn import Nspawn

GB = 1024**3


@pytest.fixture
def sweep(pipeline, monkeypatch):
    """Run the sweep with the nodes' disks reporting `percent` full."""
    monkeypatch.setattr(disks, "_checked_at", [float("-inf")])

    def run(percent: int) -> int:
        monkeypatch.setattr(
            Nspawn, "disk_usage", lambda self, node: (percent * GB // 100 * 8, 8 * GB)
        )
        disks._checked_at[0] = float("-inf")
        settings = dict(pipeline.settings, DISK_CHECK_INTERVAL=60, QUOTA_DISK=10_240)
        return disks.grow_filling_disks(pipeline.session, settings)

    return run


def active_instance(pipeline, name: str, disk_size: int, max_disk_size: int) -> Instance:
    created = pipeline.create_instance(name, disk_size=disk_size, max_disk_size=max_disk_size)
    session = pipeline.session
    instance = session.scalars(select(Instance).filter_by(uuid=created["uuid"])).one()
    for operation in session.scalars(select(Operation)):
        operation.status = "SUCCEEDED"
    instance.status = Status.ACTIVE
    instance.nodes.append(Node(index=1, name=f"pg{name}", address="192.0.2.5", status="ACTIVE"))
    session.commit()
    return instance


def test_a_filling_disk_grows_by_a_quarter_up_to_its_max_then_warns(pipeline, sweep):
    instance = active_instance(pipeline, "filling", 8, 11)
    assert sweep(79) == 0
    assert instance.disk_usage["percent"] == 79 and instance.warnings == []
    assert sweep(80) == 1
    [grow] = pipeline.session.scalars(select(Operation).filter_by(action="update")).all()
    assert grow.params == {"changes": {"disk_size": [8, 10]}, "automatic": True}
    assert (instance.disk_size, instance.status) == (10, "IN_PROGRESS")
    assert instance.disk_usage is None  # measured on the smaller disk
    assert sweep(90) == 0  # one change at a time: the grow is still under way
    grow.status, instance.status = "SUCCEEDED", Status.ACTIVE
    pipeline.session.commit()
    assert sweep(85) == 1
    assert instance.disk_size == 11  # a quarter of 10 is more than the max leaves
    instance.status = Status.ACTIVE
    for operation in pipeline.session.scalars(select(Operation)):
        operation.status = "SUCCEEDED"
    pipeline.session.commit()
    assert sweep(95) == 0
    assert instance.disk_size == 11
    assert instance.warnings == [
        "data disk 95% full at its max_disk_size (11 GB): raise max_disk_size or free space"
    ]
    shown = pipeline.api.get(f"/v1/postgres/instances/{instance.uuid}").json
    assert shown["warnings"] == instance.warnings and shown["disk_usage"]["percent"] == 95


def test_without_max_disk_size_it_only_warns(pipeline, sweep):
    instance = active_instance(pipeline, "capped", 8, 0)
    assert sweep(92) == 0
    assert instance.disk_size == 8
    assert "auto-grow off" in instance.warnings[0]


def test_the_disk_quota_bounds_the_growth(pipeline, sweep):
    instance = active_instance(pipeline, "quota", 8, 100)
    pipeline.session.add(Quota(project_id=instance.project_id, disk=9))
    pipeline.session.commit()
    assert sweep(99) == 0
    assert instance.disk_size == 8
