"""`bench/ingest.py`'s bound: single events and batches on a second gunicorn that
differs from the measured one only in having the SLA clocks' hook switched off.

The clocks must move in the transaction that stores the event, so this is not a
configuration anyone runs. It answers a question the goals raise: how close would
ingestion get if that work cost nothing? Its lines are information, never a verdict;
the report prints them beside the real ones, measured in the same rounds.
"""

from __future__ import annotations

from common import LoadResult, Ratio

from .config import Config
from .copy_baseline import CopyResult
from .measure import Measurer
from .server import Server
from .traffic import Traffic

# Printed under the measured line it repeats: the table's and the ratio's labels.
NAME = "  same, SLA clocks off (bound, bench only)"
RATIO_LABEL = "  same, SLA clocks off (bound)"
BOUND_NOTE = (
    "bound: the lines 'SLA clocks off' come from a second gunicorn, identical but for the\n"
    "SLA clocks' projection hook (bench/ingest_parts/gunicorn_without_clocks.py), loaded in\n"
    "the same rounds. E²A never runs so: the clocks move in the event's own transaction.\n"
    "What they show is how far ingestion would get if that work cost nothing."
)


class Bound:
    """The second server's traffic and results; empty until `start`."""

    def __init__(self, cfg: Config) -> None:
        self.cfg = cfg
        self.traffic: Traffic | None = None
        self.measure: Measurer | None = None
        self.run_id = ""
        self.single = LoadResult(NAME)
        self.batch = LoadResult(NAME, unit_per_request=cfg.batch_size)

    def start(self, server: Server, key: str, run_id: str, measure: Measurer) -> None:
        self.run_id = f"n{run_id}"  # its event ids never meet the measured server's
        self.traffic = Traffic(self.cfg, server.port, key, self.run_id)
        self.measure = measure

    def warm_up(self) -> list[LoadResult]:
        assert self.traffic is not None
        requests = self.traffic.batch_requests(f"w{self.run_id}", self.cfg.batch_concurrency)
        return [self.traffic.single(self.cfg.warmup), self.traffic.batch(requests)]

    def measure_round(self, tag: str, batches: int) -> None:
        traffic, measure = self.traffic, self.measure
        assert traffic is not None and measure is not None
        seconds = self.cfg.seconds
        self.single.merge(measure(f"bound-single-{tag}", lambda: traffic.single(seconds)))
        if batches:
            requests = traffic.batch_requests(f"b{self.run_id}{tag}", batches)
            self.batch.merge(measure(f"bound-batch-{tag}", lambda: traffic.batch(requests)))

    def singles(self) -> list[LoadResult]:
        return [self.single] if self.traffic is not None else []

    def batches(self) -> list[LoadResult]:
        return [self.batch] if self.traffic is not None else []

    def results(self) -> list[LoadResult]:
        return [*self.singles(), *self.batches()]

    def ratios(
        self, health: LoadResult, copy: CopyResult, goals: tuple[float, float]
    ) -> tuple[Ratio, Ratio]:
        """(single, batch): the same ratios as the measured server's, for information."""
        single = self.single.rate / health.rate if health.rate else 0.0
        batch = self.batch.rate / copy.rate if copy.rate else 0.0
        return (
            Ratio(RATIO_LABEL, single, goals[0], at_least=True, judged=False),
            Ratio(RATIO_LABEL, batch, goals[1], at_least=True, judged=False),
        )
