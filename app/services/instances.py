"""PostgreSQL instances: the records, and the operations that change the machines."""

from typing import Any

from sqlalchemy import Select, bindparam, select
from sqlalchemy.orm import Session, joinedload

from app.services import backups, operations, quotas
from app.services.errors import Conflict, Invalid, NotFound
from app.services.projects import take_client_uuid, take_project_id
from app.services.references import canonical_uuid, parse_version
from core import lifecycle, patroni, tls, upgrades
from core.models import Action, Instance, Operation, OperationStatus, Status, Target, Version

# Changing any of these needs the machines to change: an operation.
INFRASTRUCTURE_FIELDS = ("cpu", "ram", "disk_size", "nodes_number", "sync_replica_number")


def project_instances(project_id: str) -> Select:
    return select(Instance).where(Instance.project_id == project_id)


# Built once: the per-request cost is binding two values, not composing a statement
# (one query with its nodes; a list loads them in a second query, for all at once).
_ONE_INSTANCE = (
    project_instances(bindparam("project_id"))
    .where(Instance.uuid == bindparam("uuid"))
    .options(joinedload(Instance.nodes))
)


def get_instance(session: Session, project_id: str, uuid: str) -> Instance:
    """The project's instance; another project's is as absent as a missing one (404)."""
    instance = (
        session.scalars(_ONE_INSTANCE, {"project_id": project_id, "uuid": canonical_uuid(uuid)})
        .unique()
        .first()
    )
    if instance is None:
        raise NotFound("No such instance.")
    return instance


def resolve_version(session: Session, reference: str) -> Version:
    uuid = parse_version(reference)
    if uuid is None:
        raise Invalid("version", "Not a version URI (/v1/types/postgres/versions/UUID) or UUID.")
    version = session.scalars(select(Version).where(Version.uuid == uuid)).first()
    if version is None:
        raise Invalid("version", "No such version.")
    if version.deprecated:
        raise Invalid("version", f"{version.name} is deprecated: new instances cannot use it.")
    return version


def _refuse_taken_name(session: Session, project_id: str, name: str) -> None:
    taken = session.scalars(project_instances(project_id).where(Instance.name == name)).first()
    if taken is not None:
        raise Conflict(f"The project has an instance named '{name}'.", {"name": ["Already taken."]})


def _refuse_max_below_size(disk_size: int, max_disk_size: int) -> None:
    if max_disk_size and max_disk_size < disk_size:
        raise Invalid(
            "max_disk_size",
            f"{max_disk_size} GB is below disk_size ({disk_size} GB): give 0 (off) or more.",
        )


def _usage(fields) -> quotas.Usage:
    return quotas.Usage.of(
        fields["cpu"], fields["ram"], fields["disk_size"], fields["nodes_number"]
    )


def create_instance(
    session: Session, project_id: str, data: dict[str, Any], settings: dict[str, Any]
) -> tuple[Instance, Operation]:
    data = dict(data)
    take_project_id(data, project_id)
    uuid = take_client_uuid(session, data)
    _refuse_taken_name(session, project_id, data["name"])
    restore = data.pop("restore_from", None)
    source = plan = None
    if restore is not None:
        source, plan = backups.restore_source(session, project_id, restore, settings)
        if "version" in data and parse_version(data["version"]) != source.version.uuid:
            raise Invalid(
                "version", f"A restore keeps the source's version ({source.version.name})."
            )
        data["version"] = source.version
    elif "version" not in data:
        raise Invalid("version", "Missing data for required field.")
    else:
        data["version"] = resolve_version(session, data["version"])
    _refuse_max_below_size(data["disk_size"], data.get("max_disk_size", 0))
    quotas.check(session, project_id, settings, quotas.Usage(), _usage(data))

    policy = data.pop("backup", None)
    instance = Instance(project_id=project_id, status=Status.NEW, **data)
    if uuid is not None:
        instance.uuid = uuid
    else:
        session.add(instance)
        session.flush()  # its uuid names its archive's stanza
    instance.archive = backups.policy_for_new_instance(instance, policy, settings)
    created, operation = operations.created(session, instance, uuid)
    if plan is not None:
        operation.params = {"restore": plan}
        session.commit()
    return created, operation


def update_instance(
    session: Session, instance: Instance, changes: dict[str, Any], settings: dict[str, Any]
) -> Operation | None:
    """Apply a partial update. Sizing changes become an operation; names do not."""
    if operations.is_being_deleted(session, instance):
        raise Conflict("The instance is being deleted.")
    changes = dict(changes)
    reference = changes.pop("version", None)
    major_upgrade = reference is not None and _version_change(
        session, instance, reference, changes, settings
    )
    if "disk_size" in changes and changes["disk_size"] < instance.disk_size:
        raise Invalid(
            "disk_size",
            f"disk size cannot shrink (now {instance.disk_size} GB).",
        )
    _refuse_max_below_size(
        changes.get("disk_size", instance.disk_size),
        changes.get("max_disk_size", instance.max_disk_size),
    )
    if changes.get("name", instance.name) != instance.name:
        _refuse_taken_name(session, instance.project_id, changes["name"])
        if instance.archive is not None:
            instance.archive.instance_name = changes["name"]
    if "backup" in changes:
        backups.change_policy(instance, changes.pop("backup"), settings)

    resized = {
        field: [getattr(instance, field), changes[field]]
        for field in INFRASTRUCTURE_FIELDS
        if field in changes and changes[field] != getattr(instance, field)
    }
    # An instance in ERROR may be asked for the same sizes again: that is a retry.
    retry = instance.status == Status.ERROR and any(f in changes for f in INFRASTRUCTURE_FIELDS)
    operation = None
    if resized or retry:
        operations.refuse_if_busy(session, instance)
        now = {f: getattr(instance, f) for f in INFRASTRUCTURE_FIELDS}
        quotas.check(
            session, instance.project_id, settings, _usage(now), _usage({**now, **changes})
        )
        operation = operations.record(session, instance, Action.UPDATE, {"changes": resized})
        lifecycle.change_asked(instance)
    elif major_upgrade:
        operation = upgrade(session, instance, reference, settings)
    for field, value in changes.items():
        setattr(instance, field, value)
    session.commit()
    return operation


# Stopped mid-run by a DELETE; other running operations (a backup, a verification)
# are short and clean up after themselves: the delete waits for them.
CANCELLABLE_RUNS = (Target.INSTANCE,)


def delete_instance(session: Session, instance: Instance) -> Operation:
    """Accepted at any time but during another delete: operations still waiting are
    cancelled, a running change of the instance (create, update, restore, ...) is
    stopped, and the delete runs next, removing every node whatever state it is in."""
    # Against a worker claiming a waiting operation meanwhile (its claim takes this lock).
    session.scalars(select(Instance.id).where(Instance.id == instance.id).with_for_update()).all()
    if operations.is_being_deleted(session, instance):
        raise Conflict("The instance is being deleted.")
    unfinished = session.scalars(
        select(Operation).where(
            Operation.instance_id == instance.id,
            Operation.status.in_(OperationStatus.unfinished()),
        )
    )
    for moot in unfinished:
        if moot.status == OperationStatus.PENDING:
            lifecycle.operation_cancelled(moot, "Cancelled: the instance is being deleted.")
        elif moot.target in CANCELLABLE_RUNS:
            lifecycle.cancel_asked(moot)
    operation = operations.record(session, instance, Action.DELETE)
    lifecycle.change_asked(instance)
    session.commit()
    return operation


def restore_instance(session: Session, instance: Instance, point, settings: dict[str, Any]):
    """In place: a full backup first (so the restore can be undone), then the data as of
    ``point``; the users and databases become what the data holds then."""
    operations.refuse_if_busy(session, instance)
    if instance.status != Status.ACTIVE:
        raise Conflict(f"The instance is {instance.status}: only an ACTIVE one is restored.")
    archive = instance.archive
    if archive is None:
        raise Conflict(backups.no_repository_reason(settings))
    problem = backups.window_problem(archive, point)
    if problem is not None:
        raise Invalid("point_in_time", problem)
    plan = backups.restore_plan(archive, point)
    before = backups.new_backup(session, archive)
    operation = operations.record(
        session, instance, Action.RESTORE, {"restore": plan, "backup_first": before.uuid}
    )
    lifecycle.change_asked(instance)
    session.commit()
    return operation


def switchover(
    session: Session, instance: Instance, to: str | None, settings: dict[str, Any]
) -> Operation:
    """Hand the primary's role to `to` (an address of a healthy replica), or to a
    synchronous standby. Checked against the cluster itself, now: the operation names
    the candidate node, so that running it again switches nothing twice."""
    if operations.is_being_deleted(session, instance):
        raise Conflict("The instance is being deleted.")
    operations.refuse_if_busy(session, instance)
    if instance.status != Status.ACTIVE:
        raise Conflict(f"The instance is {instance.status}: only an ACTIVE one switches over.")
    if instance.nodes_number < 2:
        raise Conflict("The instance has one node: there is no replica to switch over to.")
    if to is not None and to not in instance.ipsv4:
        raise Invalid("to", f"{to} is not an address of this instance's nodes.")
    addresses = instance.ipsv4
    session.commit()  # no transaction stays open while the nodes are asked
    state = patroni.cluster(addresses, tls.root_certificate(settings))
    if state is None:
        raise Conflict("The instance's cluster does not answer now; retry in a moment.")
    candidate, reason = patroni.switchover_candidate(state.get("members", []), to)
    if candidate is None:
        raise Invalid("to", reason + ".") if to is not None else Conflict(reason + ".")
    # The node named to the playbook is our record's (by its address), never a name
    # read from the cluster's answer.
    node = next((n for n in instance.nodes if n.address == candidate.get("host")), None)
    if node is None:
        raise Conflict("The cluster names a member that is not one of the instance's nodes.")
    operations.refuse_if_busy(session, instance)
    operation = operations.record(
        session, instance, Action.SWITCHOVER, {"to": node.name, "address": node.address}
    )
    session.commit()
    return operation


def upgrade(
    session: Session,
    instance: Instance,
    version_reference: str | None,
    settings: dict[str, Any],
) -> Operation:
    """Without a version: the newest packages of the instance's suite, node by node
    (replicas, a switchover, the old primary); the instance keeps serving. With a
    version of a higher major: pg_upgrade in place (the instance IN_PROGRESS)."""
    if operations.is_being_deleted(session, instance):
        raise Conflict("The instance is being deleted.")
    operations.refuse_if_busy(session, instance)
    if instance.status != Status.ACTIVE:
        raise Conflict(f"The instance is {instance.status}: only an ACTIVE one is upgraded.")
    target = None if version_reference is None else resolve_version(session, version_reference)
    plan = _upgrade_plan(instance, target, settings)
    params: dict[str, Any] = {"kind": str(plan.kind)}
    if plan.kind == upgrades.Kind.MAJOR:
        params.update(
            version_id=target.id,
            version=target.name,
            from_version=instance.version.name,
            from_major=plan.from_major,
            to_major=plan.to_major,
        )
    operation = operations.record(session, instance, Action.UPGRADE, params)
    if plan.kind == upgrades.Kind.MAJOR:
        lifecycle.change_asked(instance)
    session.commit()
    return operation


def _upgrade_plan(
    instance: Instance, target: Version | None, settings: dict[str, Any]
) -> upgrades.Plan:
    """What moving to `target` means, or the 422 naming `version` that refuses it."""
    plan = upgrades.plan(instance.version.image, None if target is None else target.image)
    if plan.kind is None:
        raise Invalid("version", plan.refusal)
    if plan.kind == upgrades.Kind.MAJOR and settings["PROVIDER"] != "nspawn":
        raise Invalid(
            "version",
            f"Major upgrades in place (PostgreSQL {plan.from_major} to {plan.to_major}) move "
            f"lab machines onto the new image; this service's {settings['PROVIDER']} "
            "machines cannot be: create an instance of that version and move the data with "
            "pg_dump and pg_restore.",
        )
    return plan


def _version_change(
    session: Session,
    instance: Instance,
    reference: str,
    changes: dict[str, Any],
    settings: dict[str, Any],
) -> bool:
    """A PUT may name the instance's own version (nothing changes) or a higher major's
    (True: the major upgrade POST .../upgrade records, alone in its PUT); the same major
    on another image is pointed to POST .../upgrade."""
    target = resolve_version(session, reference)
    if target.id == instance.version_id:
        return False
    plan = _upgrade_plan(instance, target, settings)
    if plan.kind != upgrades.Kind.MAJOR:
        raise Invalid(
            "version",
            f"{target.name} runs the instance's image: POST .../upgrade applies its newest "
            "packages.",
        )
    resized = [
        field
        for field in INFRASTRUCTURE_FIELDS
        if field in changes and changes[field] != getattr(instance, field)
    ]
    if resized:
        raise Invalid(
            "version",
            f"A major upgrade changes the version alone: send {', '.join(resized)} in another PUT.",
        )
    return True
