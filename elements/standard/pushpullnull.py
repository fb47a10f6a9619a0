"""PushNull and PullNull: Null with its processing fixed."""
from vforward.element import PULL_ONLY, PUSH_ONLY

from .null import Null


class PushNull(Null):
    """PushNull -- pass packets unchanged, push only

    Ports: 1 input, 1 output; push.

    Null whose ports are push, to force a push path where an agnostic
    element would otherwise take the other kind.
    """
    PROCESSING = PUSH_ONLY


class PullNull(Null):
    """PullNull -- pass packets unchanged, pull only

    Ports: 1 input, 1 output; pull.

    Null whose ports are pull, to force a pull path: the elements before it
    become pull elements (an InfiniteSource then makes a packet per pull).
    """
    PROCESSING = PULL_ONLY
