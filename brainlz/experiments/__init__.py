"""Replication experiments of published results, built on the library (not part of its pipeline).

``song2000``: Song, Miller & Abbott (2000), bimodal weights under additive STDP.
``tempotron_capacity``: Gütig & Sompolinsky (2006), tempotron training accuracy against the load P/N.
``paper_grid``: the analysis of the paper grid's record (paired differences per task, pooled over tasks).
"""
