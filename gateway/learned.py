"""What the gateway learnt from the upstream: purposes whose downloads it refuses.

Kept in the store so every replica knows it; each process refreshes its copy in the background
and folds it into the effective matrix."""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging

from gateway.policy import Policy
from gateway.store import RecordStore, StoreUnavailable

log = logging.getLogger("files_gateway")


class LearnedRefusals:
    def __init__(self, store: RecordStore, policy: Policy) -> None:
        self._store = store
        self._base = policy
        self.refused: dict[str, str] = {}
        self.policy = policy

    def _apply(self, refused: dict[str, str]) -> None:
        if refused == self.refused:
            return
        self.refused = dict(refused)
        purposes = dict(self._base.purposes)
        for purpose, observed in refused.items():
            rule = purposes.get(purpose)
            if rule is not None:
                purposes[purpose] = dataclasses.replace(
                    rule, upstream_download="refused", upstream_observed=observed
                )
        self.policy = dataclasses.replace(self._base, purposes=purposes)

    async def refresh(self) -> None:
        self._apply(await self._store.learned_refusals())

    async def learn(self, purpose: str) -> None:
        if purpose in self.refused or purpose not in self._base.purposes:
            return
        today = dt.datetime.now(dt.UTC).date().isoformat()
        try:
            await self._store.learn_refusal(purpose, today)
            await self.refresh()
        except StoreUnavailable:
            log.warning("could not record the upstream's refusal of purpose %s", purpose)
