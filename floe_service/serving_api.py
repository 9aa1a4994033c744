"""REST API for a serving job's tokens: its owner makes them (each shown once) and revokes them.

The job itself answers at ``serve_url`` (``serving_proxy``); its figures come with the job.
"""

from __future__ import annotations

from floe.core.refs import parse_number
from jobs.serving import make_token, revoke_token, token_json, tokens_of

from . import schemas
from .jobs_api import JobAPIHandler
from .operations import Route, operation


class TokensHandler(JobAPIHandler):
    @operation(
        "A serving job's tokens (never the tokens themselves)",
        response=list[schemas.ServingToken],
    )
    def get(self, ref: str) -> None:
        job = self.job(ref)
        found = [token_json(t) for t in tokens_of(self.db(), job)]
        self.send(found, shape=list[schemas.ServingToken])

    @operation(
        "Make a token for a serving job (its owner only); the token is in this answer only",
        ok=201,
        body=schemas.NewServingToken,
        response=schemas.MadeServingToken,
        errors=(400, 403, 404, 429),
    )
    async def post(self, ref: str) -> None:
        name = (await self.body(schemas.NewServingToken)).name
        job = self.job(ref)
        row, token = await self.off_loop(make_token, self.db(), self.caller, job, name)
        self.send({**token_json(row), "token": token}, 201, shape=schemas.MadeServingToken)


class TokenHandler(JobAPIHandler):
    @operation("Revoke a serving token: it stops working at once", ok=204, errors=(400, 403, 404))
    def delete(self, token_id: str) -> None:
        revoke_token(self.db(), self.caller, parse_number(token_id, "a token id"))
        self.settings["serving"].forget_tokens()
        self.set_status(204)
        self.finish()


ROUTES = [
    Route("/jobs/{job}/tokens", TokensHandler),
    Route("/serving-tokens/{token_id}", TokenHandler),
]
