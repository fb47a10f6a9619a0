"""Experiments over a deployed lab: scenarios of timed events and measurements,
their recorded series, summaries and plots; manual routes, per-flow paths and
end-to-end sensing, which scenarios use and the command line offers alone.

A lab knows nothing of the experiments run on it: everything here works
through the lab's state record, its namespaces and its routers' control
sockets.
"""
