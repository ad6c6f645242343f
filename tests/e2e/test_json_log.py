"""The handler-log reader the scenarios count with (`local.stack.JsonLog`): several processes
append to one file, and a record must be counted once whatever the interleaving."""

from pathlib import Path

from local.stack import JsonLog


def test_records_split_where_two_processes_writes_interleaved(tmp_path: Path) -> None:
    path = tmp_path / "handler.log"
    # Process A prints its EMF object, process B logs a whole line, then A's newline lands.
    path.write_text('{"_aws": 1}{"message": "event applied", "event_id": "b"}\n\n')
    assert JsonLog(path).records() == [
        {"_aws": 1},
        {"message": "event applied", "event_id": "b"},
    ]


def test_only_new_complete_lines_are_read_and_each_once(tmp_path: Path) -> None:
    path = tmp_path / "handler.log"
    log = JsonLog(path)
    assert log.records() == []  # not created yet
    path.write_text('{"n": 1}\n{"n": ')
    assert log.records() == [{"n": 1}]  # the second line is not finished
    with path.open("a") as f:
        f.write('2}\nTraceback (most recent call last):\n{"cut": \n{"n": 3}\n')
    assert log.records() == [{"n": 1}, {"n": 2}, {"n": 3}]
    assert log.records() == [{"n": 1}, {"n": 2}, {"n": 3}]
