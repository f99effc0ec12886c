from decimal import Decimal

from loyalty.domain.orders import Order, RewardRef, VoucherRef
from loyalty.domain.transform import LoyaltyInstructions, to_loyalty_instructions

D = Decimal


def a_sale(**changes: object) -> Order:
    return Order.model_validate(
        {
            "order_reference": "ORD-1001",
            "loyalty_reference": "LOY-42",
            "merchant_reference": "STORE-7",
            "order_type": "sale",
            "currency": "GBP",
            "lines": [
                {"sku": "TEA-1", "quantity": 2, "unit_price": "4.50"},
                {"sku": "MUG-1", "quantity": 1, "unit_price": "11.00"},
            ],
            "discount": "2.00",
            "vouchers": [{"voucher_code": "V-1"}],
            "rewards": [{"reward_code": "FREE_TEA"}],
            **changes,
        }
    )


def test_instructions_carry_net_amount_and_points() -> None:
    # GIVEN 20.00 gross, 2.00 discount -> lines net 8.10 and 9.90
    instructions = to_loyalty_instructions(a_sale(), points_rate=D("1"))

    assert instructions.net_amount == D("18.00")
    assert instructions.points == 17  # 8 + 9, rounded down per line


def test_instructions_copy_vouchers_and_rewards() -> None:
    instructions = to_loyalty_instructions(a_sale(), points_rate=D("1"))

    assert instructions.vouchers == [VoucherRef(voucher_code="V-1")]
    assert instructions.rewards == [RewardRef(reward_code="FREE_TEA")]


def test_instructions_identify_the_order_and_customer() -> None:
    instructions = to_loyalty_instructions(a_sale(), points_rate=D("1"))

    assert instructions.model_dump(
        include={
            "order_reference",
            "order_type",
            "loyalty_reference",
            "merchant_reference",
            "currency",
        }
    ) == {
        "order_reference": "ORD-1001",
        "order_type": "sale",
        "loyalty_reference": "LOY-42",
        "merchant_reference": "STORE-7",
        "currency": "GBP",
    }


def test_return_instructions_carry_the_points_to_deduct() -> None:
    a_return = a_sale(
        order_type="return", original_order_reference="ORD-1000", vouchers=[], rewards=[]
    )

    instructions = to_loyalty_instructions(a_return, points_rate=D("2.5"))

    assert instructions.order_type == "return"
    assert instructions.points == 44  # floor(8.10 * 2.5) + floor(9.90 * 2.5) = 20 + 24


def test_instructions_round_trip_through_json() -> None:
    instructions = to_loyalty_instructions(a_sale(), points_rate=D("1"))

    dumped = instructions.model_dump(mode="json")

    assert dumped["net_amount"] == "18.00"
    assert LoyaltyInstructions.model_validate(dumped) == instructions
