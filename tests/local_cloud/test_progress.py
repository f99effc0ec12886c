"""A long run shows its progress: a bar on a terminal, a line every few seconds in a log."""

from __future__ import annotations

import io

from local_cloud.run.progress import OrderProgress


def test_off_a_terminal_a_plain_line_is_written_every_interval() -> None:
    log = io.StringIO()
    progress = OrderProgress(10, label="orders", stream=log, terminal=False, every=0)
    progress.show(3, "2 running  COMPLETED 3")
    progress.show(4, "1 running  COMPLETED 4")
    progress.close()
    lines = log.getvalue().splitlines()
    assert [line.rsplit("  ", 1)[0] for line in lines] == [
        "  orders: 3/10 ended, 2 running  COMPLETED 3",
        "  orders: 4/10 ended, 1 running  COMPLETED 4",
    ]
    assert "\r" not in log.getvalue()  # nothing a log viewer would show as garbage


def test_off_a_terminal_nothing_is_written_within_the_interval() -> None:
    log = io.StringIO()
    progress = OrderProgress(10, stream=log, terminal=False, every=3600)
    progress.show(3, "2 running")
    assert log.getvalue() == ""


def test_on_a_terminal_the_bar_is_redrawn_in_place_and_cleared_for_a_line() -> None:
    screen = io.StringIO()
    progress = OrderProgress(10, label="L C=4", stream=screen, terminal=True)
    progress.show(3, "2 in flight")
    drawn = screen.getvalue()
    progress.clear()
    progress.close()
    assert "L C=4" in drawn
    assert "3/10 ended, 2 in flight" in drawn
    assert drawn.startswith("\r")
    assert "\n" not in drawn


def test_the_bar_and_the_line_say_what_was_done_to_each_unit() -> None:
    log, screen = io.StringIO(), io.StringIO()
    OrderProgress(9, label="points.py", verb="judged", stream=log, terminal=False, every=0).show(
        2, "0 survived"
    )
    bar = OrderProgress(9, label="points.py", verb="judged", stream=screen, terminal=True)
    bar.show(2, "0 survived")
    bar.close()
    assert log.getvalue().startswith("  points.py: 2/9 judged, 0 survived  ")
    assert "2/9 judged, 0 survived" in screen.getvalue()
