"""Stage 2, hardware: the accelerator as frozen dataclasses (:mod:`.model`), each rule on it
declared once (:mod:`.rules`: read by the dataclasses on construction and by the loader alike),
and strict loading of perfsim's YAML descriptions, schema versions 1 and 2 (:mod:`.loading`).
It knows nothing of workloads."""
