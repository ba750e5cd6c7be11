"""Step Functions RedriveExecution for moto 5.2.5, loaded into moto rather than forked.

moto's Step Functions interpreter (``moto/stepfunctions/parser``, ported from LocalStack)
runs executions but has no RedriveExecution. ``install()`` adds it to the running moto:

* ``StepFunctionsParserBackend.redrive_execution`` (see ``redrive.py``);
* ``StepFunctionResponse.redrive_execution``, the ``AWSStepFunctions.RedriveExecution``
  action; DescribeExecution with ``redriveCount``, ``redriveDate``, ``redriveStatus`` and
  ``redriveStatusReason``; ListExecutions with ``redriveFilter`` and each item's
  ``redriveCount`` and ``redriveDate`` (see ``api.py``);
* ``$$.Execution.RedriveCount`` (0 until redriven) in every execution's context object.

``local/moto_server.py`` installs it and then runs moto's server as ``moto_server`` does.
"""

from __future__ import annotations

from typing import Any

_installed = False


def install() -> None:
    """Patches moto's Step Functions classes; safe to call more than once."""
    global _installed
    if _installed:
        return

    from moto.stepfunctions.models import StepFunctionBackend
    from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
    from moto.stepfunctions.parser.models import StepFunctionsParserBackend
    from moto.stepfunctions.responses import StepFunctionResponse

    from . import api, redrive

    def redrive_execution(
        self: Any, execution_arn: str, client_token: str | None = None
    ) -> Any:
        return redrive.redrive_execution(self, execution_arn, client_token)

    StepFunctionsParserBackend.redrive_execution = redrive_execution
    StepFunctionBackend.list_executions = api.backend_list_executions

    StepFunctionResponse.redrive_execution = api.redrive_execution
    StepFunctionResponse.list_executions = api.list_executions
    StepFunctionResponse.describe_execution = api.wrap_describe_execution(
        StepFunctionResponse.describe_execution
    )

    original_environment = ExecutionWorker._get_evaluation_environment

    def _get_evaluation_environment(self: Any) -> Any:
        env = original_environment(self)
        execution = env.states.context_object.context_object_data["Execution"]
        execution.setdefault("RedriveCount", 0)
        return env

    ExecutionWorker._get_evaluation_environment = _get_evaluation_environment
    _installed = True
