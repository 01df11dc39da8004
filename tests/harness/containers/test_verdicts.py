"""A failed run's reason names the first exception of its log (often the cause) and the last."""

from harness.containers.verdicts import exceptions_in, log_exceptions, log_reason

# What the SELMA3D 2026 evaluator's server prints for a case it cannot categorize: the cause
# 30 lines above the exception that ended the request.
CHAINED = "\n".join(
    [
        "Traceback (most recent call last):",
        '  File "/opt/app/evaluate.py", line 120, in process',
        "    category = get_category(name)",
        "RuntimeError: Unknown category: spot_000.nii.gz",
        "",
        "The above exception was the direct cause of the following exception:",
        "",
        "Traceback (most recent call last):",
        *[f'  File "/usr/lib/python3.11/x{i}.py", line {i}, in f' for i in range(26)],
        "sagemaker_shim.exceptions.PredictionProcessingError: the prediction failed",
        "INFO: 127.0.0.1 - POST /invoke 500",
    ]
)


def test_the_first_and_the_last_exception_are_found_with_their_lines():
    assert exceptions_in(CHAINED) == [
        (4, "RuntimeError: Unknown category: spot_000.nii.gz"),
        (35, "sagemaker_shim.exceptions.PredictionProcessingError: the prediction failed"),
    ]
    summary = log_exceptions(CHAINED)
    assert summary == (
        "first exception in the log (line 4 of 36): RuntimeError: Unknown category: "
        "spot_000.nii.gz; last (line 35): sagemaker_shim.exceptions.PredictionProcessingError: "
        "the prediction failed"
    )


def test_lines_the_shim_writes_as_json_are_read_by_their_log_key():
    log = '{"log": "ValueError: bad shape", "level": "ERROR", "source": "stderr"}\nplain line'
    assert exceptions_in(log) == [(1, "ValueError: bad shape")]


def test_indented_and_prose_lines_are_not_exceptions():
    log = "  raise RuntimeError('x')\nNo Error here: fine\nerror: lower case\nKeyboardInterrupt"
    assert exceptions_in(log) == [(4, "KeyboardInterrupt")]


def test_a_reason_carries_the_exceptions_then_the_tail():
    reason = log_reason(CHAINED)
    assert reason.startswith("; first exception in the log (line 4 of 36): RuntimeError")
    assert reason.endswith("INFO: 127.0.0.1 - POST /invoke 500")
    assert log_reason("") == ""
    assert log_reason("just output") == "; log tail:\njust output"


def test_the_tail_may_come_from_stderr_while_exceptions_come_from_the_whole_log():
    reason = log_reason(CHAINED, tail_of="only the end\nof stderr")
    assert "RuntimeError: Unknown category: spot_000.nii.gz" in reason
    assert reason.endswith("; log tail:\nonly the end\nof stderr")
