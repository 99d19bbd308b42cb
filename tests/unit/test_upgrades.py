"""Which target of an instance's upgrade is a minor update, a major upgrade or refused."""

from core import upgrades
from core.upgrades import Kind

FIFTEEN, SEVENTEEN, EIGHTEEN = "debian-bookworm-pg15", "debian-trixie-pg17", "debian-forky-pg18"


def test_no_target_or_the_same_image_is_a_minor_update():
    assert upgrades.plan(FIFTEEN, None).kind == Kind.MINOR
    assert upgrades.plan(SEVENTEEN, SEVENTEEN).kind == Kind.MINOR


def test_a_higher_major_is_a_major_upgrade_naming_both():
    plan = upgrades.plan(FIFTEEN, EIGHTEEN)
    assert (plan.kind, plan.from_major, plan.to_major) == (Kind.MAJOR, 15, 18)


def test_a_lower_major_is_refused_as_a_downgrade():
    plan = upgrades.plan(EIGHTEEN, FIFTEEN)
    assert plan.kind is None
    assert "cannot be downgraded" in plan.refusal


def test_another_image_of_the_same_major_is_refused(monkeypatch):
    from core import images

    same = {**images.recipes(), "debian-other-pg15": images.Recipe(suite="other", major=15)}
    monkeypatch.setattr(images, "recipes", lambda: same)
    plan = upgrades.plan(FIFTEEN, "debian-other-pg15")
    assert plan.kind is None
    assert "major already" in plan.refusal


def test_an_image_without_a_recipe_is_refused():
    plan = upgrades.plan(FIFTEEN, "debian-nowhere-pg99")
    assert plan.kind is None
    assert "debian-nowhere-pg99" in plan.refusal
