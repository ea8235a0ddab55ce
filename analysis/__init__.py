"""Analysis of Mamba2 / SpikingMamba checkpoints: energy (Appendix D), firing rates, accumulate counts,
activation statistics (Appendix B, F), the clamp experiment (Table 7) and spike rasters.

Command line: ``python -m analysis COMMAND`` (energy, paper-tables, neuron-demo, firing-rates, raster,
activations, histograms, clamp). Python APIs, one job per module:

    analysis.energy        block_energy, energy_report, firing_rate, PRESETS     Tables 10–12 (pure functions)
    analysis.paper_tables  TABLES, reproduce, comparison                         Tables 8–9 and their errata
    analysis.firing_rates  measure_firing_rates, count_accumulates, load_model   spikes via SpikingJelly monitors
    analysis.activations   projection_input_stats, magnitude_maps, final_block_histograms   Figures 3–7
    analysis.clamp         clamp_channel_max, clamped, clamp_experiment          Table 7
    analysis.raster        plot_rasters, model_spike_trains                      signed spike rasters
    analysis.neuron_demo   run_demo                                              LIF / I-LIF / TI-LIF side by side

Only ``analysis.energy`` is imported here (it needs nothing but the standard library); the others import
torch, SpikingJelly and the models when used.
"""

from analysis.energy import (
    PRESETS,
    EnergyConstants,
    Mamba2Shape,
    block_energy,
    energy_report,
    firing_rate,
)

__all__ = ["PRESETS", "EnergyConstants", "Mamba2Shape", "block_energy", "energy_report", "firing_rate"]
