"""``make local``: the whole product on one machine, for a person with a browser.

Starts moto's server (Secrets Manager, EventBridge, SQS), the Zoho and Adobe emulators, and a local
HTTP API that serves the template's routes through the real callback handler. Lifecycle events are
wired as in the stack: an EventBridge rule on ``Zoho connection authorized`` feeds the provisioning
handler (through an SQS queue, moto's faithful target), and the refresh handler runs on a schedule.
Then it prints a connect link. Open it, click Accept on the emulated Zoho page, and watch
``zoho-aep status``.

It also writes ``.local-sandbox/env``, every variable its world uses (``source`` it in another
terminal), so ``zoho-aep link``, ``status``, ``refresh``, ``provision`` and ``disconnect`` work against
the sandbox as against a stack: ``refresh`` and ``provision`` reach the sandbox's functions through a
local Lambda Invoke endpoint, and ``ZOHO_AEP_LOCAL_SANDBOX`` makes every command refuse to fall back
to a real Zoho, Adobe or AWS host. The functions' JSON log and metric lines go to
``.local-sandbox/local.log``.
"""

from __future__ import annotations

import argparse
import errno
import json
import os
import shlex
import sys
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

from local.aep_s3_step import make_bucket_and_reader
from local.api import LocalHttpApi, _Context
from local.emulators.adobe import AdobeEmulator
from local.functions import function_path, load_function
from local.lambda_api import LocalLambdaApi
from local.narration import LOG_DIR, logs_to_file
from local.sandbox import ORG_ID, PREFIX, Sandbox, local_world, seed_app_secrets
from zoho_aep.config import parameters as p

ROOT = Path(__file__).resolve().parents[1]
ADOBE_CLIENT_ID = "local-adobe-client-id"
ADOBE_CLIENT_SECRET = "local-adobe-client-secret-000000"
ADOBE_ORG_ID = "LOCAL0000000000000000000@AdobeOrg"
AUTHORIZED_RULE = "zoho-aep-local-provisioning"
REFRESH_FUNCTION = "zoho-aep-local-token-refresh"
PROVISIONING_FUNCTION = "zoho-aep-local-adobe-provisioning"
EXPORT_FUNCTION = "zoho-aep-local-zoho-export"
EXPORT_BUCKET = "zoho-aep-local-export"
LOCAL_RECORDS = {"Leads": 120, "Contacts": 80, "Accounts": 15, "Deals": 30}  # the emulated org's CRM
ENV_FILE = LOG_DIR / "env"
# Every variable the sandbox's world uses, in the order the env file lists them.
ENV_KEYS = (
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_ENDPOINT_URL_SECRETS_MANAGER",
    "AWS_ENDPOINT_URL_EVENTBRIDGE",
    "AWS_ENDPOINT_URL_SQS",
    "AWS_ENDPOINT_URL_CLOUDFORMATION",
    "AWS_ENDPOINT_URL_LAMBDA",
    "AWS_ENDPOINT_URL_S3",
    "AWS_ENDPOINT_URL_IAM",
    "SECRET_PREFIX",
    "CALLBACK_URL",
    "EVENT_BUS_NAME",
    "ZOHO_DATA_CENTERS_JSON",
    "ADOBE_IMS_URL",
    "ADOBE_PLATFORM_URL",
    "POWERTOOLS_METRICS_NAMESPACE",
    "EXPORT_BUCKET",
    "AEP_S3_SERVICE_URL",
    str(p.REFRESH_FUNCTION.env),
    str(p.PROVISIONING_FUNCTION.env),
    str(p.EXPORT_FUNCTION.env),
    str(p.LOCAL_SANDBOX.env),
)


class PortBusy(RuntimeError):
    """The sandbox's HTTP API port is taken; the message names the variable to set."""


def load_handler(name: str) -> ModuleType | None:
    """Load ``functions/<name>/app.py`` as Lambda would (None if that function does not exist)."""
    return load_function(name) if function_path(name).exists() else None


class LocalStack:
    """Everything ``make local`` runs; also used by the browser end-to-end test."""

    def __init__(
        self, port: int = 0, refresh_every: float = 60.0, export_every: float = 60.0, ingest_every: float = 60.0
    ) -> None:
        self.port = port
        self.refresh_every = refresh_every
        self.export_every = export_every  # the export schedule's ticks (each exports what is due)
        self.ingest_every = ingest_every  # AEP's dataflow runs over the bucket, then the run watch
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self.provisioned: list[dict[str, Any]] = []
        self.errors: list[str] = []

    def __enter__(self) -> LocalStack:
        # The callback URL must be known before the handler's cold start, so the port is fixed first.
        self.api = LocalHttpApi(self._callback)
        try:
            base = self.api.serve(self.port)
        except OSError as exc:
            if exc.errno != errno.EADDRINUSE:
                raise
            raise PortBusy(
                f"Port {self.port} (the sandbox's HTTP API) is in use: set LOCAL_PORT to a free one, "
                f"e.g. `LOCAL_PORT={self.port + 1} make local` (or pass --port)."
            ) from exc
        self.api.base_url = base
        callback_url = f"{base}/oauth/callback"
        self._world_cm = local_world(callback_url=callback_url)
        self.world: Sandbox = self._world_cm.__enter__()
        self.adobe = AdobeEmulator().start()
        self.adobe.register_credential(ADOBE_CLIENT_ID, ADOBE_CLIENT_SECRET, ADOBE_ORG_ID)
        self.adobe.zoho_spec_state = "gone"  # as in AEP today: connections take the Amazon S3 path
        self.lambdas = LocalLambdaApi(
            {
                REFRESH_FUNCTION: self._run_refresh,
                PROVISIONING_FUNCTION: self._run_provisioning,
                EXPORT_FUNCTION: self._run_export,
            },
            _Context,
        ).start()
        extra = {
            "ADOBE_IMS_URL": self.adobe.base_url,
            "ADOBE_PLATFORM_URL": self.adobe.base_url,
            "EXPORT_BUCKET": EXPORT_BUCKET,
            "AEP_S3_SERVICE_URL": self.world.moto_url,  # AEP's S3 source reads moto's bucket
            str(p.EXPORT_FUNCTION.env): EXPORT_FUNCTION,
            "AWS_ENDPOINT_URL_LAMBDA": self.lambdas.base_url,
            str(p.REFRESH_FUNCTION.env): REFRESH_FUNCTION,
            str(p.PROVISIONING_FUNCTION.env): PROVISIONING_FUNCTION,
            str(p.LOCAL_SANDBOX.env): "1",
        }
        self._saved = {k: os.environ.get(k) for k in extra}
        os.environ.update(extra)
        self.world.env.update(extra)
        from zoho_aep.adapters import aws

        aws.reset_clients()
        seed_app_secrets(self.world)
        sm = self.world.secrets_client()
        adobe = {"client_id": ADOBE_CLIENT_ID, "client_secret": ADOBE_CLIENT_SECRET, "org_id": ADOBE_ORG_ID}
        sm.put_secret_value(SecretId=f"{PREFIX}/adobe", SecretString=json.dumps(adobe))
        make_bucket_and_reader(PREFIX, EXPORT_BUCKET)
        for module, count in LOCAL_RECORDS.items():
            self.world.zoho.crm.add_many(ORG_ID, module, count, modified_at=time.time() - 3600)
        self.callback = load_handler("oauth_callback")
        self.provisioning = load_handler("adobe_provisioning")
        self.refresh = load_handler("token_refresh")
        self.export = load_handler("zoho_export")
        self._wire_events()
        self._start(self._poll_events, "events")
        if self.refresh is not None and self.refresh_every > 0:
            self._start(self._refresh_loop, "refresh")
        if self.export is not None and self.export_every > 0:
            self._start(lambda: self._every(self.export_every, self.run_export), "export")
        if self.ingest_every > 0:
            self._start(lambda: self._every(self.ingest_every, self.run_ingestion), "ingestion")
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=5)
        self.api.stop()
        self.lambdas.stop()
        self.adobe.stop()
        self._world_cm.__exit__(None, None, None)
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    # ---- wiring ---------------------------------------------------------------------------------
    def _callback(self, event: dict[str, Any], context: Any) -> dict[str, Any]:
        assert self.callback is not None
        result: dict[str, Any] = self.callback.lambda_handler(event, context)
        return result

    def _wire_events(self) -> None:
        from zoho_aep.adapters import aws

        sqs = aws.client("sqs")
        self.queue_url = sqs.create_queue(QueueName="zoho-aep-local-events")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=self.queue_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        events = aws.client("events")
        pattern = {"source": ["zoho-aep"], "detail-type": ["Zoho connection authorized", "Zoho export columns changed"]}
        events.put_rule(Name=AUTHORIZED_RULE, EventPattern=json.dumps(pattern), State="ENABLED")
        events.put_targets(Rule=AUTHORIZED_RULE, Targets=[{"Id": "provisioning", "Arn": arn}])

    def _start(self, target: Any, name: str) -> None:
        thread = threading.Thread(target=target, name=f"local-{name}", daemon=True)
        thread.start()
        self._threads.append(thread)

    def _poll_events(self) -> None:
        from zoho_aep.adapters import aws

        sqs = aws.client("sqs")
        while not self._stop.is_set():
            answer = sqs.receive_message(QueueUrl=self.queue_url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
            for message in answer.get("Messages", []):
                event = json.loads(message["Body"])
                self._provision(event)
                sqs.delete_message(QueueUrl=self.queue_url, ReceiptHandle=message["ReceiptHandle"])

    def _provision(self, event: dict[str, Any]) -> None:
        if self.provisioning is None:
            return
        try:
            result = self.provisioning.lambda_handler(event, _Context("local-adobe-provisioning"))
            self.provisioned.append(result if isinstance(result, dict) else {"result": result})
        except Exception as exc:  # a retryable failure: the real rule would retry; here we report it
            self.errors.append(f"provisioning raised {type(exc).__name__}")

    def _run_refresh(self, event: dict[str, Any], context: Any) -> Any:
        assert self.refresh is not None
        return self.refresh.lambda_handler(event, context)

    def _run_provisioning(self, event: dict[str, Any], context: Any) -> Any:
        assert self.provisioning is not None
        return self.provisioning.lambda_handler(event, context)

    def _run_export(self, event: dict[str, Any], context: Any) -> Any:
        assert self.export is not None
        return self.export.lambda_handler(event, context)

    def _every(self, seconds: float, job: Any) -> None:
        while not self._stop.wait(seconds):
            try:
                job()
            except Exception as exc:  # a loop of the sandbox reports and goes on, as a schedule would
                self.errors.append(f"{job.__name__} raised {type(exc).__name__}")

    def run_export(self) -> Any:
        """A tick of the export schedule: every S3-path connection's due modules, to the bucket."""
        if self.export is None:
            return None
        scheduled = {"schedule_arn": "local", "scheduled_time": "now", "execution_id": "local", "attempt": "1"}
        return self.export.lambda_handler(scheduled, _Context("local-zoho-export"))

    def run_ingestion(self) -> Any:
        """AEP's dataflows read the new files (the emulator, with the reader's key), then the run watch."""
        self.adobe.run_dataflows()
        if self.provisioning is None:
            return None
        return self.provisioning.lambda_handler({"watch": "dataflow-runs"}, _Context("local-adobe-provisioning"))

    def _refresh_loop(self) -> None:
        while not self._stop.wait(self.refresh_every):
            self.run_refresh()

    def run_refresh(self) -> Any:
        if self.refresh is None:
            return None
        scheduled = {"source": "aws.scheduler", "detail-type": "Scheduled Event", "detail": {}}
        return self.refresh.lambda_handler(scheduled, _Context("local-token-refresh"))

    # ---- for people ---------------------------------------------------------------------------
    def link(self, connection: str, sandbox: str = "prod") -> str:
        import contextlib
        import io

        from zoho_aep.edges import cli

        out = io.StringIO()
        with contextlib.redirect_stdout(out):
            code = cli.main(["link", "--connection", connection, "--sandbox", sandbox])
        if code != 0:
            raise RuntimeError("could not create a connect link")
        return out.getvalue().strip().splitlines()[-1]

    def env_lines(self) -> list[str]:
        """``export`` lines for every variable the sandbox's world uses (shell-quoted)."""
        return [f"export {k}={shlex.quote(self.world.env[k])}" for k in ENV_KEYS]

    def write_env_file(self, path: Path = ENV_FILE) -> Path:
        path.parent.mkdir(exist_ok=True)
        header = "# zoho-aep local sandbox: `source` this file, then run zoho-aep (valid while make local runs)."
        path.write_text("\n".join([header, *self.env_lines()]) + "\n", encoding="utf-8")
        return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run zoho-aep locally: emulated Zoho, Adobe and AWS.")
    parser.add_argument("--port", type=int, default=int(os.environ.get("LOCAL_PORT", "8400")))
    parser.add_argument("--connection", default="acme")
    parser.add_argument("--sandbox", default="prod")
    parser.add_argument("--refresh-every", type=float, default=60.0, help="seconds between refresh cycles")
    parser.add_argument("--export-every", type=float, default=60.0, help="seconds between export ticks")
    parser.add_argument("--ingest-every", type=float, default=60.0, help="seconds between AEP's dataflow runs")
    args = parser.parse_args(argv)
    with logs_to_file("local") as (say, shout, log_path):
        try:
            stack_cm = LocalStack(
                port=args.port,
                refresh_every=args.refresh_every,
                export_every=args.export_every,
                ingest_every=args.ingest_every,
            )
            stack = stack_cm.__enter__()
        except PortBusy as exc:
            shout(f"make local: {exc}")
            return 2
        try:
            env_file = stack.write_env_file()
            say("zoho-aep local sandbox is running (Ctrl-C to stop).")
            say(f"  HTTP API (callback, connect, health): {stack.api.base_url}")
            say(f"  Zoho emulator (US accounts):  {stack.world.zoho.accounts_url('us')}")
            say(f"  Adobe emulator:               {stack.adobe.base_url}")
            say(f"  moto (Secrets Manager, ...):  {stack.world.moto_url}")
            say(f"  Lambda Invoke (the functions): {stack.lambdas.base_url}")
            say(f"  the functions' JSON log and metric lines: {log_path}")
            say(f"\nIn another terminal, every variable of this sandbox is in {env_file}:")
            for line in stack.env_lines():
                say(f"  {line}")
            say(f"\n  source {env_file}")
            say("  .venv/bin/zoho-aep status    # also: link, refresh NAME, provision NAME, export, disconnect NAME")
            say(f"\nAfter the consent: the export runs every {args.export_every:g} s, AEP's dataflows every")
            say(f"{args.ingest_every:g} s; `zoho-aep status` then shows each module's dataset and AEP run.")
            link = stack.link(args.connection, args.sandbox)
            say(f"\nOpen this connect link in a browser and click Accept:\n\n{link}\n")
            try:
                while True:
                    time.sleep(1)
            except KeyboardInterrupt:
                say("\nStopping.")
        finally:
            ENV_FILE.unlink(missing_ok=True)
            stack_cm.__exit__(None, None, None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
