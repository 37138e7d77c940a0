"""LoRA task adapters shipped with taskvec: ``<model>/<task>/`` folders in PEFT format with a model card each."""
