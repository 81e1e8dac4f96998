import pytest

from cloud_reasoner.fleet.blobs import BlobError, digest_of, verify
from cloud_reasoner.fleet.policy import OptInPolicy, Reason, VehicleState, eligibility, within_hours
from cloud_reasoner.fleet.validation import find_quorum, parse_result, results_agree

from .conftest import fake_result


def state(**kw) -> VehicleState:
    base = dict(parked=True, charging=True, state_of_charge=0.9, temperature_c=20.0, local_hour=23.0)
    base.update(kw)
    return VehicleState(**base)


def test_eligibility_each_condition():
    p = OptInPolicy(opted_in=True, allowed_hours=(22, 6), min_state_of_charge=0.5, only_while_charging=False)
    assert eligibility(p, state()) is Reason.ELIGIBLE
    assert eligibility(OptInPolicy(), state()) is Reason.NOT_OPTED_IN
    assert eligibility(p, state(parked=False)) is Reason.DRIVING
    assert eligibility(p, state(local_hour=12.0)) is Reason.OUTSIDE_HOURS
    assert eligibility(p, state(local_hour=3.0)) is Reason.ELIGIBLE  # wraps past midnight
    assert eligibility(p, state(charging=False, state_of_charge=0.4)) is Reason.LOW_CHARGE
    assert eligibility(p, state(charging=True, state_of_charge=0.4)) is Reason.ELIGIBLE
    assert eligibility(p, state(temperature_c=70.0)) is Reason.TOO_HOT
    only_charging = OptInPolicy(opted_in=True, only_while_charging=True)
    assert eligibility(only_charging, state(charging=False)) is Reason.NOT_CHARGING


def test_policy_and_state_reject_bad_values():
    with pytest.raises(ValueError, match="state_of_charge"):
        state(state_of_charge=1.5)
    with pytest.raises(ValueError, match="allowed_hours"):
        OptInPolicy(allowed_hours=(0, 25))
    with pytest.raises(ValueError, match="max_cpu_share"):
        OptInPolicy(max_cpu_share=0.0)
    assert within_hours(5.0, (0, 24)) and not within_hours(5.0, (6, 22))


def test_blob_digest_mismatch_rejected():
    data = b"hello"
    verify(data, digest_of(data))
    with pytest.raises(BlobError, match="hash to"):
        verify(b"hellO", digest_of(data))
    with pytest.raises(BlobError, match="sha256"):
        verify(data, "md5:abc")


def test_results_agree_within_tolerance_only():
    a = parse_result(fake_result(1))
    b = parse_result(fake_result(1))
    b["class_fraction"][0][0] += 5e-4
    assert results_agree(a, b)
    b["class_fraction"][0][0] += 5e-3
    assert not results_agree(a, b)
    assert not results_agree(a, parse_result(fake_result(1, wrong=True)))
    # a frame may switch sides of the low-confidence threshold only if it is within tolerance of it
    c = parse_result(fake_result(1))
    c["low_confidence_frames"] = [*c["low_confidence_frames"], 99]
    assert not results_agree(a, c)


def test_find_quorum():
    good, bad = parse_result(fake_result(2)), parse_result(fake_result(2, wrong=True))
    assert find_quorum([bad, good], 2) is None
    assert find_quorum([bad, good, good], 2) == 1
    assert find_quorum([None, good], 1) == 1
