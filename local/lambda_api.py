"""A local stand-in for the Lambda Invoke API, so `zoho-aep refresh` and `provision` reach the
sandbox's functions exactly as they reach a stack's.

It answers ``POST /2015-03-31/functions/{name}/invocations`` (what boto3's ``lambda.invoke`` sends)
by running the real handler in this process: the answer is the handler's JSON; a handler that raises
answers as Lambda does, with ``X-Amz-Function-Error: Unhandled`` and ``{"errorMessage", "errorType"}``;
an unknown function is a ``ResourceNotFoundException``. ``AWS_ENDPOINT_URL_LAMBDA`` points boto3 here.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from local.emulators.base import Emulator, Request, Response

Handler = Callable[[dict[str, Any], Any], Any]
INVOKE_PREFIX = "/2015-03-31/functions/"


class LocalLambdaApi(Emulator):
    """Runs named handlers on invoke."""

    def __init__(self, functions: dict[str, Handler], context: Callable[[str], Any]) -> None:
        super().__init__("local-lambda-api")
        self.functions = dict(functions)
        self._context = context
        self.base_url = ""
        self.route("POST", INVOKE_PREFIX, self._invoke)

    def start(self, port: int = 0) -> LocalLambdaApi:
        self.base_url = self.serve(port)
        return self

    def _invoke(self, request: Request) -> Response:
        rest = request.path[len(INVOKE_PREFIX) :]
        name, _, tail = rest.partition("/")
        name = unquote(name).rsplit(":function:", 1)[-1]  # an ARN names the function too
        handler = self.functions.get(name)
        if tail != "invocations" or handler is None:
            message = f"Function not found: {name}"
            return Response.json(
                {"Type": "User", "message": message}, 404, {"x-amzn-ErrorType": "ResourceNotFoundException"}
            )
        try:
            event = json.loads(request.body or b"{}")
        except ValueError:
            return Response.json(
                {"Type": "User", "message": "Could not parse request body into json"},
                400,
                {"x-amzn-ErrorType": "InvalidRequestContentException"},
            )
        try:
            result = handler(event, self._context(name))
        except Exception as exc:  # Lambda's own behaviour: the error is the answer, not a crash
            body = {"errorMessage": str(exc)[:200], "errorType": type(exc).__name__, "stackTrace": []}
            traceback.print_exc()  # into the sandbox's log file, as CloudWatch would have it
            return Response.json(body, 200, {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"})
        return Response.json(result, 200, {"X-Amz-Executed-Version": "$LATEST"})
