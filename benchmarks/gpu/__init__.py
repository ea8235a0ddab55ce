"""The prepared GPU check (``make gpu-check``, benchmarks/gpu_check.py): its plan, runner, kernel
switch, installer, the checks themselves (check_*.py) and the wheel build (build_wheels.sh).
See DEVELOPERS.md."""
