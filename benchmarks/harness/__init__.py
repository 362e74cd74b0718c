"""``gateway bench``: tail-latency benchmark harness (load generators, simulators, statistics, reports).

Pieces, each usable on its own:

* ``stats``: percentiles, coordinated-omission correction, HdrHistogram ``.hgrm`` output, comparisons.
* ``plan``: scenarios (ping-pong, steady rate, microbursts, mixed flow) as deterministic action plans.
* ``wires``: how a load generator speaks to its target: the strategy protocol (through the gateway)
  or OUCH/SoupBinTCP straight to the simulator (the floor).
* ``loadgen``: the load-generating process: runs a plan over a wire, stamps every action.
* ``simproc``: the OUCH simulator process with a per-read receive clock for one-way latency.
* ``runner``: starts the processes, runs scenarios side by side, joins the timestamps, reports.
"""
