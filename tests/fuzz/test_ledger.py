"""The packet ledger finds what it is for: a silent drop, and a slot never returned."""
from vforward.element import Element
from vforward.fuzz.graph_run import GraphRun


class SilentDropper(Element):
    """SilentDropper -- drops every other packet without counting (tests only)

    Ports: 1 input, 1 output.
    """
    PORTS = "1/1"

    def process(self, batch):
        keep = batch.idx % 2 == 0
        batch.select(~keep).kill()
        return batch.select(keep)


class Hoarder(Element):
    """Hoarder -- keeps every packet forever (tests only)

    Ports: 1 input, 0 outputs.
    """
    PORTS = "1/0"

    def configure(self, args):
        args.finish()
        self.kept = []

    def push(self, port, batch):
        self.kept.append(batch)


CONFIG = "dev :: KernelTap(10.9.0.2/24);\ndev -> {middle} -> dev;\n"


def test_a_drop_no_counter_shows_is_named():
    run = GraphRun(CONFIG.format(middle="s :: SilentDropper"), "t.click", ["dev"])
    try:
        run.push("dev", [b"x" * 60] * 8)
        problems = run.balance().problems()
        assert len(problems) == 1 and problems[0].startswith("s dropped 4 packets")
    finally:
        run.close()


def test_a_slot_never_returned_is_a_leak():
    run = GraphRun("dev :: KernelTap(10.9.0.2/24);\ndev -> h :: Hoarder;\nIdle -> dev;\n",
                   "t.click", ["dev"])
    try:
        run.push("dev", [b"x" * 60] * 3)
        b = run.balance()
        assert b.leaked == 3 and "3 slots taken and never returned" in b.problems()[0]
    finally:
        run.close()


def test_counted_drops_and_sent_packets_balance():
    run = GraphRun(CONFIG.format(middle="c :: Classifier(0/78, -) -> Discard; c[1]"), "t.click",
                   ["dev"])
    try:
        run.push("dev", [b"x" * 60, b"y" * 60, b"x" * 10])
        b = run.balance()
        assert b.problems() == [] and b.sent == 1 and b.dropped == 2
    finally:
        run.close()
