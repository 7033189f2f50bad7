"""Economics: power and energy, goodput, dollars, fleets, claim checks and roadmaps.

``quantities`` (parse "2GW", "$0.03/kWh" at the edge) · ``power`` (chip, host, PUE; IT vs
facility) · ``goodput`` (failures, checkpoints, Young/Daly) · ``cost`` (rent or own, per run,
price-performance with search's plans) · ``fleet`` (power envelope or budget → chips, FLOP/s,
energy, $) · ``claims`` (recompute published claims) · ``roadmap`` (growing fleet + run queue).
"""
