"""itft: a course package for intermediate-task fine-tuning, multi-task learning and task embeddings.

Submodules, one job each: ``runtime`` (device, seed, mode), ``models`` (presets, heads, encoder
hand-over), ``data`` (tasks from hub, local files or generated), ``qa`` (windows and spans),
``encoding`` (features and batching), ``training`` (the loop), ``finetune`` (task-level train and
evaluate), ``metrics``, ``mtl`` (λ schedules, simple samplers, GradNorm), ``mtl_training`` (one encoder, several
task heads: loss weighting or task sampling, the λ sweep), ``transfer`` (intermediate-task
fine-tuning and the transfer matrix), ``plots``.
"""
__version__ = "0.1.0"
