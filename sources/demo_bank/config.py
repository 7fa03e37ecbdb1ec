"""Parameters of a demo-bank simulation; the seed and these fix every byte it writes."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from datetime import date
from pathlib import Path


@dataclass(frozen=True)
class DemoBankConfig:
    customers: int = 2_000
    months: int = 12
    seed: int = 42
    start: date = date(2024, 1, 1)
    corporate_share: float = 0.02
    # Monthly probability that an established customer starts the road to leaving.
    churn_hazard: float = 0.010
    # Transactions per current account and month at full engagement.
    individual_txn_rate: float = 5.0
    corporate_txn_rate: float = 40.0
    anomaly_accounts_per_10k: float = 10.0
    key_account_trends: int = 10
    complaint_rate: float = 0.004
    survey_rate: float = 0.03
    # Share of delivered files (and of rows) made defective on purpose; 0 = clean data.
    defect_rate: float = 0.0
    extra: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.customers < 50:
            raise ValueError(f"customers={self.customers}: at least 50 are needed")
        if not 1 <= self.months <= 240:
            raise ValueError(f"months={self.months}: use 1..240")
        if self.start.day != 1:
            raise ValueError(f"start={self.start}: must be the first day of a month")
        if not 0 <= self.defect_rate <= 1:
            raise ValueError(f"defects={self.defect_rate}: use 0..1 (e.g. 0.01)")
        if not 0 <= self.churn_hazard < 0.5:
            raise ValueError(f"churn_hazard={self.churn_hazard}: use 0..0.5")

    @property
    def end(self) -> date:
        """First day after the simulated period."""
        return month_start(self.start, self.months)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["start"] = self.start.isoformat()
        return data

    @classmethod
    def from_json(cls, data: dict[str, object]) -> DemoBankConfig:
        values = dict(data)
        values["start"] = date.fromisoformat(str(values["start"]))
        return cls(**values)  # type: ignore[arg-type]


def month_start(first: date, offset: int) -> date:
    year, month = divmod(first.month - 1 + offset, 12)
    return date(first.year + year, month + 1, 1)


@dataclass(frozen=True)
class Layout:
    """Where a demo bank keeps its world store, truth and state, under the data folder."""

    data_dir: Path

    @property
    def root(self) -> Path:
        return self.data_dir / "demo_bank"

    @property
    def world(self) -> Path:
        return self.root / "world"

    @property
    def truth(self) -> Path:
        return self.root / "truth"

    @property
    def state_file(self) -> Path:
        return self.root / "state.json"

    def drop(self, system: str) -> Path:
        return self.data_dir / system

    def read_state(self) -> dict[str, object]:
        return json.loads(self.state_file.read_text())

    def write_state(self, state: dict[str, object]) -> None:
        self.root.mkdir(parents=True, exist_ok=True)
        tmp = self.state_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(state, indent=2, sort_keys=True))
        tmp.replace(self.state_file)
