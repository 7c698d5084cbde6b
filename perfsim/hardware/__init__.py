"""Stage 2, hardware: the accelerator as frozen dataclasses (:mod:`.model`) and strict loading of
perfsim's YAML descriptions into them (:mod:`.loading`). It knows nothing of workloads."""
