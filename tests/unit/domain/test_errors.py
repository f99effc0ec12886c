import pickle

from loyalty.domain.errors import (
    DomainError,
    FieldProblem,
    OrderValidationError,
    UnknownOrderType,
)


def test_error_names_are_the_step_functions_error_names() -> None:
    assert UnknownOrderType.error_name == "UnknownOrderType"
    assert OrderValidationError.error_name == "OrderValidationError"


def test_domain_errors_str_is_their_message() -> None:
    assert str(UnknownOrderType("nope")) == "nope"
    assert isinstance(UnknownOrderType("nope"), DomainError)


def test_validation_error_message_lists_every_problem() -> None:
    err = OrderValidationError(
        [FieldProblem("lines[0].quantity", "too small"), FieldProblem("currency", "bad")]
    )

    assert str(err) == "order is invalid: lines[0].quantity: too small; currency: bad"
    assert err.problems == [
        FieldProblem("lines[0].quantity", "too small"),
        FieldProblem("currency", "bad"),
    ]


def test_validation_error_survives_pickling() -> None:
    err = OrderValidationError([FieldProblem("order", "must be a JSON object")])

    copy = pickle.loads(pickle.dumps(err))

    assert copy.problems == err.problems
    assert str(copy) == str(err)
