"""Vendor requests and answers (seed 000): what the vendor is asked, how it answers, the rules."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Final

from loyalty.contract.sources import DEFAULT_DOMAIN, DEFAULT_PREFIX, Source, source_of

# --- Vendor requests and answers (seed 000) -------------------------------------------------

VENDOR_DETAIL_TYPE: Final = "event"
TASK_STATUS_CATEGORY: Final = "task-status"
VENDOR_TOKEN_FIELD: Final = "loyalty_request_id"
"""Field of ``detail.data`` that carries the task token on vendor requests and answers."""


class VendorRequestType(StrEnum):
    """``metadata.type`` of a vendor request: what the vendor is asked to do."""

    VOUCHER = "voucher"
    REWARD = "reward"
    SALE = "sale"  # credit points
    RETURN = "return"  # deduct points
    # Compensation: undo what an order that failed had applied (``loyalty:onPartialFailure``).
    SALE_REVERSAL = "sale-reversal"  # deduct the points a sale credited
    RETURN_REVERSAL = "return-reversal"  # credit back the points a return deducted
    VOUCHER_REVERSAL = "voucher-reversal"
    REWARD_REVERSAL = "reward-reversal"


EFFECT_TYPES: Final = (
    VendorRequestType.VOUCHER,
    VendorRequestType.REWARD,
    VendorRequestType.SALE,
    VendorRequestType.RETURN,
)
"""The four request types of seed 000's patterns, in its order."""
REVERSAL_OF: Final = {
    VendorRequestType.SALE: VendorRequestType.SALE_REVERSAL,
    VendorRequestType.RETURN: VendorRequestType.RETURN_REVERSAL,
    VendorRequestType.VOUCHER: VendorRequestType.VOUCHER_REVERSAL,
    VendorRequestType.REWARD: VendorRequestType.REWARD_REVERSAL,
}
"""The request that undoes each kind of effect."""
REVERSALS: Final = frozenset(REVERSAL_OF.values())
REVERSAL_TYPES: Final = tuple(REVERSAL_OF[t] for t in EFFECT_TYPES)
"""Matched by rules of their own (``vendor_request_pattern(types=REVERSAL_TYPES)``), beside the
seed's, which stay byte for byte."""


class PartialFailurePolicy(StrEnum):
    """What happens to the effects an order applied before it failed
    (``loyalty:onPartialFailure``)."""

    COMPENSATE = "compensate"
    """Reverse every applied effect through the Vendor Mediator: the order's net effect is zero."""
    LEAVE = "leave"
    """Leave them; ``order.failed`` lists them for whoever acts on it."""


class VendorStatus(StrEnum):
    """``metadata.status``: ``processed`` on requests, ``submitted``/``error`` on answers."""

    PROCESSED = "processed"
    SUBMITTED = "submitted"
    ERROR = "error"


def vendor_metadata(
    *, domain: str, service: Source, type: str, status: VendorStatus
) -> dict[str, str]:
    """``detail.metadata`` of a vendor request or answer. ``type`` is a `VendorRequestType` value,
    or a JSONPath when the state machine fills it in at run time."""
    return {
        "domain": domain,
        "service": service.value,
        "category": TASK_STATUS_CATEGORY,
        "type": type,
        "status": status.value,
    }


def vendor_request_pattern(
    domain: str = DEFAULT_DOMAIN,
    types: tuple[VendorRequestType, ...] = EFFECT_TYPES,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, Any]:
    """Seed 000 step 2: the Vendor Mediator's rule, generalised to the four request types; with
    ``types=REVERSAL_TYPES``, the same rule for a compensation's reversals. Beside the seed's
    ``detail``, a ``source`` filter: only the order process may ask the vendor for anything (the
    seed's ``metadata.service`` is a field any publisher can write; ``source`` is the one the
    publishers' IAM grants pin, ``events:source``)."""
    return {
        "source": [source_of(Source.ORDER_PROCESS, prefix)],
        "detail": {
            "metadata": {
                "domain": [domain],
                "service": [Source.ORDER_PROCESS.value],
                "category": [TASK_STATUS_CATEGORY],
                "type": [t.value for t in types],
                "status": [VendorStatus.PROCESSED.value],
            }
        },
    }


def vendor_answer_pattern(
    domain: str = DEFAULT_DOMAIN,
    types: tuple[VendorRequestType, ...] = EFFECT_TYPES,
    *,
    prefix: str = DEFAULT_PREFIX,
) -> dict[str, Any]:
    """Seed 000 step 4, byte for byte, plus a ``source`` filter: the Token Handler's rule; with
    ``types=REVERSAL_TYPES``, the same rule for the answers to a compensation's reversals. Only
    the Vendor Mediator answers for the vendor: without the filter, anyone allowed to put events
    could resume a vendor step with a token it had seen, as any source (see
    ``seed_pattern``)."""
    return {
        "source": [source_of(Source.VENDOR_MEDIATOR, prefix)],
        "detail": {
            "metadata": {
                "domain": [domain],
                "service": [Source.VENDOR_MEDIATOR.value],
                "category": [TASK_STATUS_CATEGORY],
                "type": [t.value for t in types],
                "status": [VendorStatus.SUBMITTED.value, VendorStatus.ERROR.value],
            },
            "data": {VENDOR_TOKEN_FIELD: [{"exists": True}]},
        },
    }


def seed_pattern(pattern: dict[str, Any]) -> dict[str, Any]:
    """``pattern`` without the ``source`` filter this system adds: what seed 000 wrote."""
    return {key: value for key, value in pattern.items() if key != "source"}
